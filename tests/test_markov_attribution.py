"""The standard Markov attribution (marts.fct_markov_channel_attribution) against an independent implementation.

`standard_markov` below is the model of Anderl, Becker, von Wangenheim and Schumann (2016) as the common
open-source tools compute it, written from the definition and sharing nothing with the SQL: a first-order chain
over the raw paths (one state per touch, so a channel repeated in a row is a self-loop; the SQL collapses repeats
first), states (start), (conversion) and (null), transition probabilities from counts, absorption probabilities
solved exactly as a linear system (the SQL squares the transition matrix), and a channel's removal effect
1 - P(conversion without it) / P(conversion) with the transitions into the removed channel going to (null). All
conversions and all conversion value are then shared by the removal effects.

It is checked first on hand-solved paths, then compared with the warehouse `journey run` builds from the bundled
sample (seeds/, `journey generate --people 2000 --days 60 --seed 7`; over 1,000 conversions), the one the
end-to-end tests share: every channel within 1% of all conversions.
"""

from collections import Counter, defaultdict
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import duckdb
import numpy as np
import pytest

from tests.helpers import query

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"


def standard_markov(paths: list[tuple[list[str], bool, float]]) -> dict[str, dict[str, float]]:
    """paths: (channels in order, converted, conversion value). Per channel: removal_effect, attributed_conversions,
    attributed_revenue."""
    transitions: dict[str, Counter] = defaultdict(Counter)
    for channels, converted, _ in paths:
        states = [START, *channels, CONVERSION if converted else NULL]
        for here, there in pairwise(states):
            transitions[here][there] += 1
    channels = sorted({channel for path, _, _ in paths for channel in path})

    def conversion_probability(removed: str | None = None) -> float:
        # x[s] = P(reaching (conversion) from s) over the transient states: x = Q x + r, i.e. (I - Q) x = r.
        transient = [START, *(c for c in channels if c != removed)]
        index = {state: i for i, state in enumerate(transient)}
        q, r = np.zeros((len(transient), len(transient))), np.zeros(len(transient))
        for state in transient:
            total = sum(transitions[state].values())
            for target, count in transitions[state].items():
                if target == CONVERSION:
                    r[index[state]] += count / total
                elif target in index:
                    q[index[state], index[target]] += count / total
                # else (null), or the removed channel: its transitions end in (null)
        return float(np.linalg.solve(np.eye(len(transient)) - q, r)[index[START]])

    base = conversion_probability()
    effects = {c: (1 - conversion_probability(c) / base) if base > 0 else 0.0 for c in channels}
    effect_sum = sum(effects.values())
    conversions = sum(1 for _, converted, _ in paths if converted)
    value = sum(v for _, converted, v in paths if converted)
    return {
        c: {
            "removal_effect": effects[c],
            "attributed_conversions": conversions * effects[c] / effect_sum if effect_sum else 0.0,
            "attributed_revenue": value * effects[c] / effect_sum if effect_sum else 0.0,
        }
        for c in channels
    }


# The three paths of docs/journeys.md "Markov attribution: two allocations" and of the dbt unit tests
# markov_removal_effects_repeats_single_channel_and_non_converting_paths and
# markov_channel_attribution_standard_totals_beside_per_conversion_sums.
THREE_PATHS = [(["A", "A", "B"], True, 100.0), (["B"], True, 50.0), (["A", "C"], False, 0.0)]


def test_reference_solves_the_three_hand_made_paths():
    """Solved by hand: start->A 2/3, start->B 1/3; A->A, A->B, A->C 1/3 each; B->conversion; C->null.
    a = 1/3 a + 1/3 => a = 1/2, P = 2/3 * 1/2 + 1/3 = 2/3. Without A: P = 1/3, RE 1/2. Without B: P = 0, RE 1.
    Without C: P = 2/3, RE 0. Two conversions (150.00) shared 1/3 : 2/3 : 0."""
    result = standard_markov(THREE_PATHS)
    expected = {"A": (Fraction(1, 2), Fraction(2, 3), 50.0), "B": (Fraction(1), Fraction(4, 3), 100.0),
                "C": (Fraction(0), Fraction(0), 0.0)}
    assert set(result) == set(expected)
    for channel, (effect, conversions, revenue) in expected.items():
        assert result[channel]["removal_effect"] == pytest.approx(float(effect), abs=1e-12), channel
        assert result[channel]["attributed_conversions"] == pytest.approx(float(conversions), abs=1e-12), channel
        assert result[channel]["attributed_revenue"] == pytest.approx(revenue, abs=1e-9), channel


def test_reference_solves_the_chain_with_a_cycle():
    """The hand-solved chain of the dbt unit test markov_removal_effects_match_hand_solved_chain (A <-> B cycle):
    P = 3/4, removal effects 5/9 and 7/9."""
    result = standard_markov([(["A", "A", "B"], True, 1.0), (["B"], True, 1.0), (["A"], False, 0.0),
                              (["B", "A"], True, 1.0)])
    assert result["A"]["removal_effect"] == pytest.approx(5 / 9, abs=1e-12)
    assert result["B"]["removal_effect"] == pytest.approx(7 / 9, abs=1e-12)
    assert result["A"]["attributed_conversions"] == pytest.approx(3 * 5 / 12, abs=1e-12)


@pytest.fixture(scope="module")
def warehouse(sample_build):
    """The bundled sample, built by `journey run` (a first build: full), and the summary it printed."""
    assert sample_build.stdout.splitlines()[0].endswith(": OK"), sample_build.stdout + sample_build.stderr
    return sample_build.warehouse, sample_build.stdout


@pytest.mark.slow
def test_standard_totals_match_an_independent_implementation(warehouse):
    con = duckdb.connect(str(warehouse[0]), read_only=True)
    try:
        paths = [(list(channels), converted, float(value or 0)) for channels, converted, value in con.execute(
            "select path_channels, is_converted, conversion_value from marts.fct_conversion_paths").fetchall()]
        table = {row[0]: row[1:] for row in con.execute(
            "select channel, removal_effect, attributed_conversions, attributed_revenue, paths, conversions_on_paths, "
            "per_conversion_credits from marts.fct_markov_channel_attribution").fetchall()}
        per_conversion = dict(con.execute(
            "select channel, sum(credit) from marts.fct_attribution where model = 'markov' group by channel").fetchall())
    finally:
        con.close()
    reference = standard_markov(paths)
    conversions = sum(1 for _, converted, _ in paths if converted)
    value = sum(v for _, converted, v in paths if converted)
    assert conversions > 1000 and set(table) == set(reference), (conversions, sorted(table), sorted(reference))

    for channel, expected in reference.items():
        effect, attributed, revenue, path_count, converting, credits = table[channel]
        assert abs(attributed - expected["attributed_conversions"]) <= 0.01 * conversions, channel
        assert abs(revenue - expected["attributed_revenue"]) <= 0.01 * value, channel
        assert effect == pytest.approx(expected["removal_effect"], abs=1e-6), channel
        assert path_count == sum(1 for p, _, _ in paths if channel in p), channel
        assert converting == sum(1 for p, c, _ in paths if c and channel in p), channel
        assert credits == pytest.approx(per_conversion.get(channel, 0.0), abs=1e-6), channel
    assert sum(row[1] for row in table.values()) == pytest.approx(conversions, abs=1e-6)
    assert Decimal(str(round(sum(row[2] for row in table.values()), 2))) == Decimal(str(round(value, 2)))
    # Why the table exists: the per-conversion credits' channel sums are not the standard totals (issue 15: store,
    # the only channel of every till sale without touches, 843 conversions by path shares, 616 by the model).
    gaps = {c: row[5] - row[1] for c, row in table.items()}
    assert max(abs(g) for g in gaps.values()) > 0.01 * conversions, gaps


@pytest.mark.slow
def test_run_summary_shows_both_allocations_and_which_to_use(warehouse):
    path, summary = warehouse
    rows = query(path, "select channel, attributed_conversions, per_conversion_credits "
                       "from marts.fct_markov_channel_attribution order by 2 desc, 1")
    text = " ".join(summary.split())
    assert rows and all(f"{channel} {std:.1f} ({per:.1f})" in text for channel, std, per in rows)
    assert "the standard model (marts.fct_markov_channel_attribution, for channel totals)" in text
    assert "keep each conversion on its own path's channels and so differ (use those per conversion)" in text
    store = next(r for r in rows if r[0] == "store")
    assert f"store {store[1]:.1f} ({store[2]:.1f})" in text
