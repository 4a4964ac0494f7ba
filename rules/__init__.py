"""The shared vocabulary of the pipeline, below every layer that uses it.

contract    the export contract: sources, keys, required columns, enums, amounts, timestamps
thresholds  batch tolerances of the quality gates, the timestamp floor and the future-timestamp tolerance
journeys    the attribution models and the tolerance of their credit sums

Ingestion (orchestration/lib), the quality gates (expectations/), the Dagster definitions and the generator read
them; this package imports nothing of the project. Where dbt must hold the same rule (its seeds, vars and data
tests cannot import Python), tests/test_rules_agree.py pins the two together.
"""
