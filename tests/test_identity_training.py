"""`journey train-identity`: fuzzy matching's Fellegi-Sunter parameters learned with Splink from person records."""

from __future__ import annotations

import contextlib
import csv
import math
import re
from datetime import date, timedelta
from pathlib import Path
from random import Random

import duckdb
import pytest

from generator.mess import misspell, mistype_digits
from orchestration.lib.identity_training import (
    PARAMETERS_SEED,
    format_parameters,
    train_fuzzy_parameters,
    write_parameters,
)

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "dbt_project" / "models" / "intermediate" / "identity" / "int_identity__fuzzy_matches.sql"
FIRST = ["robert", "anna", "james", "maria", "david", "laura", "kevin", "sofia", "mark", "grace", "ethan", "olga"]
LAST = ["smith", "garcia", "okafor", "nguyen", "miller", "cohen", "patel", "larsen", "rossi", "kim", "brown", "lee"]


def _person_records(path: Path, people: int = 400, seed: int = 7) -> None:
    """A warehouse with intermediate.int_identity__person_records only: each person described 1-3 times, the
    duplicates with the generator's typing errors, missing birth dates and other e-mails."""
    rng = Random(seed)
    rows = []
    for person in range(people):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(365 * 50))
        street, postcode = f"{rng.randint(1, 999)} {rng.choice(['main', 'oak', 'pine', 'elm'])}", f"9{rng.randrange(10000):04d}"
        for copy in range(rng.choice((1, 2, 2, 3))):
            f, la, b, pc = first, last, born, postcode
            if copy and rng.random() < 0.3:
                f = misspell(rng, f)
            if copy and rng.random() < 0.2:
                la = misspell(rng, la)
            if copy and rng.random() < 0.1:
                digits = mistype_digits(rng, b.strftime("%Y%m%d"))
                with contextlib.suppress(ValueError):
                    b = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
            if copy and rng.random() < 0.05:
                pc = mistype_digits(rng, pc)
            rows.append(("orders" if copy else "crm_contacts", f"R{person}-{copy}", f, la,
                         None if rng.random() < 0.4 else b, street, pc, None, f"p{person}-{copy}@example.com"))
    con = duckdb.connect(str(path))
    con.execute("create schema intermediate")
    con.execute("""create table intermediate.int_identity__person_records (source_name varchar, record_id varchar,
        first_name_key varchar, last_name_key varchar, birth_date date, street_key varchar, postcode_key varchar,
        phone varchar, email varchar)""")
    con.executemany("insert into intermediate.int_identity__person_records values (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    con.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> list[dict]:
    warehouse = tmp_path_factory.mktemp("training") / "w.duckdb"
    _person_records(warehouse)
    return train_fuzzy_parameters(warehouse, max_pairs=2e5)


def _model_levels() -> dict[str, set[str]]:
    """The levels int_identity__fuzzy_matches gives each comparison (its `then 'level'` / `as x_level` pairs)."""
    sql = MODEL.read_text()
    block = sql[sql.index("compared as ("):sql.index("-- A swapped first and last name")]
    levels: dict[str, set[str]] = {}
    for case in re.findall(r"case(.*?)end as (\w+)_level", block, flags=re.S):
        body, name = case
        levels[name] = set(re.findall(r"then '(\w+)'", body)) | set(re.findall(r"else '(\w+)'", body))
    return levels


def test_training_learns_a_weight_for_every_level_the_model_computes(trained: list[dict]) -> None:
    learned: dict[str, set[str]] = {}
    for row in trained:
        learned.setdefault(row["comparison_name"], set()).add(row["comparison_level"])
    assert learned.pop("prior") == {"two_random_records_match"}
    model = _model_levels()
    assert set(model) == set(learned)
    for name, levels in model.items():
        # a comparison whose values can be missing has a 'missing' level (weight 0) in both
        assert levels | {"missing"} == learned[name] | {"missing"}, name


def test_learned_weights_favour_agreement_and_probabilities_add_up(trained: list[dict]) -> None:
    weight = {(r["comparison_name"], r["comparison_level"]): r["match_weight"] for r in trained}
    for name in ("first_name", "last_name", "birth_date", "postcode", "street"):
        assert weight[(name, "exact")] > 3 > 0 > weight[(name, "different")], name
        assert weight[(name, "missing")] == 0
    assert weight[("first_name", "one_edit")] > 0 and weight[("birth_date", "one_digit")] > 0
    assert weight[("prior", "two_random_records_match")] < -5  # a random pair is very unlikely to match
    for name in ("first_name", "last_name", "birth_date", "postcode", "street", "email"):
        rows = [r for r in trained if r["comparison_name"] == name and r["m_probability"] is not None]
        assert math.isclose(sum(r["m_probability"] for r in rows), 1, abs_tol=0.02), name
        assert math.isclose(sum(r["u_probability"] for r in rows), 1, abs_tol=0.02), name
    assert "first_name" in format_parameters(trained)


def test_written_parameters_read_back_and_the_committed_seed_has_the_same_levels(trained, tmp_path) -> None:
    out = tmp_path / "parameters.csv"
    write_parameters(trained, out)
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [(r["comparison_name"], r["comparison_level"]) for r in rows] == \
        [(r["comparison_name"], r["comparison_level"]) for r in trained]
    for row, learned in zip(rows, trained, strict=True):
        assert float(row["match_weight"]) == pytest.approx(learned["match_weight"], abs=1e-4)
        if learned["m_probability"] is not None:
            assert float(row["match_weight"]) == pytest.approx(
                math.log2(float(row["m_probability"]) / float(row["u_probability"])), abs=1e-3)
    with open(PARAMETERS_SEED) as f:
        committed = [(r["comparison_name"], r["comparison_level"]) for r in csv.DictReader(f)]
    assert sorted(committed) == sorted((r["comparison_name"], r["comparison_level"]) for r in rows)


def test_training_needs_a_built_warehouse(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="journey run"):
        train_fuzzy_parameters(tmp_path / "missing.duckdb")
