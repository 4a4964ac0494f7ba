"""Rules of the journey marts that Python code shares with dbt (pinned to dbt by tests/test_rules_agree.py)."""

from __future__ import annotations

# fct_attribution.model: the models int_journeys__attribution_credits computes, in the order reports show them.
# dbt lists them in the accepted_values test of fct_attribution.model; its singular test
# assert_attribution_credits_sum_to_one expects every conversion to have each of them.
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")
# The models whose credits read every conversion path (the removal effects), so that a build may change them for
# conversions it did not rebuild; the others read their own conversion's path only. Their per-touch credits are
# worked out when read (int_journeys__markov_credits), fct_attribution rewrites their rows every build, and
# publishing replaces all their rows in the BI file every night (orchestration/lib/publish.py, BI_SCOPED_TABLES).
DATA_DRIVEN_ATTRIBUTION_MODELS = ("markov",)
