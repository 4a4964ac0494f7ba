"""Great Expectations suites as code: raw sources (expectations.raw), marts (expectations.mart_integrity).

Thresholds live in rules.thresholds; expectations.validation validates DataFrames and writes the reports.
Importing this package does not import Great Expectations (the submodules do).
"""
