"""Rules of the journey marts that Python code shares with dbt (pinned to dbt by tests/test_rules_agree.py)."""

from __future__ import annotations

# fct_attribution.model: the models int_journeys__attribution_credits computes, in the order reports show them.
# dbt lists them in the accepted_values test of fct_attribution.model; its singular test
# assert_attribution_credits_sum_to_one expects every conversion to have each of them.
ATTRIBUTION_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based", "markov")
