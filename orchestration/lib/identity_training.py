"""The parameters of fuzzy matching, learned with Splink from the person records of a built warehouse.

`train_fuzzy_parameters(warehouse)` reads intermediate.int_identity__person_records and fits a Fellegi-Sunter
model with Splink on DuckDB: the probability that two random records match from pairs agreeing on full name and
birth date, u (how often random pairs show a level) by random sampling, m (how often true pairs do) by
expectation maximisation on two blocking rules (each rule leaves its own comparisons' m untouched, so the two
together estimate every m). The comparison levels below are the ones int_identity__fuzzy_matches computes, in
the same order; `write_parameters` writes them to seed identity_fuzzy_parameters (comparison, level, m, u,
log2(m/u)), which the dbt model reads: a build needs no Python and a full build and incremental nights score a
pair alike. `journey train-identity --warehouse W` does both.
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import duckdb

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PARAMETERS_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "identity_fuzzy_parameters.csv"
NICKNAMES_SEED = PROJECT_ROOT / "dbt_project" / "seeds" / "identity_nicknames.csv"
NAME_SIMILARITY = 0.88  # dbt var identity_fuzzy_name_similarity


def _edit(column: str) -> str:
    return f"damerau_levenshtein({column}_l, {column}_r) <= 1"


def _levels(column: str, levels: list[tuple[str, str]]) -> list[dict]:
    """Splink comparison levels: null first, then (label, SQL condition) in order, else 'different'."""
    out = [{"sql_condition": f"{column}_l is null or {column}_r is null", "label_for_charts": "missing",
            "is_null_level": True}]
    out += [{"sql_condition": condition, "label_for_charts": label} for label, condition in levels]
    out.append({"sql_condition": "ELSE", "label_for_charts": "different"})
    return out


def comparisons(name_similarity: float = NAME_SIMILARITY) -> list:
    """The comparisons of int_identity__fuzzy_matches as Splink comparisons (labels = the model's level names).
    A swapped first and last name counts as both names exact there; here too."""
    import splink.comparison_library as cl

    swap = ("first_name_key_l = last_name_key_r and last_name_key_l = first_name_key_r "
            "and first_name_key_l <> last_name_key_l")
    return [
        cl.CustomComparison(output_column_name="first_name", comparison_levels=_levels("first_name_key", [
            ("exact", f"first_name_key_l = first_name_key_r or ({swap})"),
            ("nickname", "list_has_any(first_name_groups_l, first_name_groups_r)"),
            ("one_edit", _edit("first_name_key")),
            ("similar", f"jaro_winkler_similarity(first_name_key_l, first_name_key_r) >= {name_similarity}"),
        ])),
        cl.CustomComparison(output_column_name="last_name", comparison_levels=_levels("last_name_key", [
            ("exact", f"last_name_key_l = last_name_key_r or ({swap})"),
            ("one_edit", _edit("last_name_key")),
            ("similar", f"jaro_winkler_similarity(last_name_key_l, last_name_key_r) >= {name_similarity}"),
        ])),
        cl.CustomComparison(output_column_name="birth_date", comparison_levels=_levels("birth_date", [
            ("exact", "birth_date_l = birth_date_r"),
            ("day_month_swap", "birth_key_l = birth_key_r"),
            ("one_digit", "damerau_levenshtein(cast(birth_date_l as varchar), cast(birth_date_r as varchar)) <= 1"),
        ])),
        cl.CustomComparison(output_column_name="postcode", comparison_levels=_levels("postcode_key", [
            ("exact", "postcode_key_l = postcode_key_r"), ("one_edit", _edit("postcode_key"))])),
        cl.CustomComparison(output_column_name="street", comparison_levels=_levels("street_key", [
            ("exact", "street_key_l = street_key_r"), ("one_edit", _edit("street_key"))])),
        cl.CustomComparison(output_column_name="phone", comparison_levels=_levels("phone", [
            ("exact", "phone_l = phone_r")])),
        cl.CustomComparison(output_column_name="email", comparison_levels=_levels("email", [
            ("exact", "email_l = email_r")])),
    ]


def _load(con: duckdb.DuckDBPyConnection, warehouse: Path) -> int:
    con.execute(f"attach '{warehouse}' as warehouse (read_only)")
    con.execute(f"create table nicknames as select * from read_csv('{NICKNAMES_SEED}', header = true, all_varchar = true)")
    con.execute("""
        create table person_records as
        with records as (
            select distinct first_name_key, last_name_key, birth_date, street_key, postcode_key, phone, email
            from warehouse.intermediate.int_identity__person_records
        ),
        groups as (
            select records.first_name_key, list_sort(list_distinct(
                list_value(records.first_name_key) || coalesce(list(nicknames.canonical_name), []))) as first_name_groups
            from (select distinct first_name_key from records) as records
            left join nicknames on nicknames.nickname = records.first_name_key
            group by records.first_name_key
        )
        select
            row_number() over (order by records.first_name_key, records.last_name_key, records.birth_date,
                records.street_key, records.postcode_key, records.phone, records.email) as unique_id,
            records.*,
            groups.first_name_groups,
            cast(year(birth_date) as varchar) || '-' || least(month(birth_date), day(birth_date)) || '-'
                || greatest(month(birth_date), day(birth_date)) as birth_key
        from records inner join groups using (first_name_key)
    """)
    con.execute("detach warehouse")
    return con.execute("select count(*) from person_records").fetchone()[0]


def train_fuzzy_parameters(warehouse: Path, max_pairs: float = 5e6, seed: int = 1) -> list[dict]:
    """Rows of seed identity_fuzzy_parameters learned from the warehouse's person records (distinct descriptions)."""
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    if not Path(warehouse).exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `journey run` first")
    con = duckdb.connect()
    records = _load(con, Path(warehouse))
    if records < 2:
        raise ValueError(f"{warehouse} has {records} person record(s): too few to learn from")
    db_api = DuckDBAPI(con.cursor())  # a cursor of its own: Splink reads results while this one is done
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=[block_on("birth_key")],
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(db_api.register("person_records"), settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("first_name_key", "last_name_key", "birth_date")], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    # each EM session fixes the m of the comparisons its blocking rule uses; the two together cover all
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("birth_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode_key", "street_key"))
    model = linker.misc.save_model_to_json()
    prior = model["probability_two_random_records_match"]
    rows = [{"comparison_name": "prior", "comparison_level": "two_random_records_match",
             "m_probability": prior, "u_probability": 1 - prior, "match_weight": math.log2(prior / (1 - prior))}]
    for comparison in model["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                m = u = None
                weight = 0.0
            else:
                m, u = level.get("m_probability"), level.get("u_probability")
                m = m if m is not None else 1e-6  # a level no true pair showed: as unlikely as Splink makes it
                u = u if u is not None else 1e-6
                weight = math.log2(m / u)
            rows.append({"comparison_name": comparison["output_column_name"],
                         "comparison_level": level["label_for_charts"],
                         "m_probability": m, "u_probability": u, "match_weight": weight})
    return rows


def write_parameters(rows: list[dict], path: Path = PARAMETERS_SEED) -> None:
    """The rows as seed CSV, probabilities to 6 significant digits and weights to 4 decimals (stable diffs)."""
    columns = ("comparison_name", "comparison_level", "m_probability", "u_probability", "match_weight")
    with open(path, "w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row["comparison_name"], row["comparison_level"],
                             "" if row["m_probability"] is None else f"{row['m_probability']:.6g}",
                             "" if row["u_probability"] is None else f"{row['u_probability']:.6g}",
                             f"{row['match_weight']:.4f}"])


def format_parameters(rows: list[dict]) -> str:
    lines = [f"{'comparison':12s} {'level':26s} {'m':>10s} {'u':>10s} {'weight':>8s}"]
    for row in rows:
        m = "" if row["m_probability"] is None else f"{row['m_probability']:.4g}"
        u = "" if row["u_probability"] is None else f"{row['u_probability']:.4g}"
        lines.append(f"{row['comparison_name']:12s} {row['comparison_level']:26s} {m:>10s} {u:>10s} "
                     f"{row['match_weight']:8.2f}")
    return "\n".join(lines)
