"""Great Expectations suites as code: raw sources (expectations.raw), marts (expectations.marts).

Thresholds live in rules.thresholds; expectations.runner validates DataFrames and writes the reports.
Importing this package does not import Great Expectations (the submodules do).
"""
