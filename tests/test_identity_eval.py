"""evaluate_identity on a hand-made warehouse and truth: pairwise precision/recall and merge error counts."""

from __future__ import annotations

import gzip

import duckdb
import pytest

from orchestration.lib.identity_eval import evaluate_identity, format_report


def write_truth(truth_dir, rows):
    truth_dir.mkdir()
    with gzip.open(truth_dir / "records.csv.gz", "wt") as f:
        f.write("source,record_key,person_id\n")
        for row in rows:
            f.write(",".join(row) + "\n")


def write_resolution(path, rows):
    con = duckdb.connect(str(path))
    con.execute("create schema intermediate")
    con.execute("create table intermediate.int_identity__record_customers (source_name varchar, record_id varchar, customer_id varchar)")
    con.executemany("insert into intermediate.int_identity__record_customers values (?, ?, ?)", rows)
    con.close()


def test_pairwise_scores_and_merge_errors(tmp_path):
    # truth: P1 has a1, a2, a3; P2 has b1, b2. resolved: {a1, a2, b1} together, a3 alone, b2 without customer.
    write_truth(tmp_path / "truth", [
        ("orders", "a1", "P1"), ("orders", "a2", "P1"), ("web_events", "a3", "P1"),
        ("orders", "b1", "P2"), ("pos_transactions", "b2", "P2"), ("reviews", "gone", "P3"),
    ])
    write_resolution(tmp_path / "w.duckdb", [
        ("orders", "a1", "c1"), ("orders", "a2", "c1"), ("orders", "b1", "c1"),
        ("web_events", "a3", "c2"), ("pos_transactions", "b2", None), ("web_events", "extra", "c3"),
    ])
    d = evaluate_identity(tmp_path / "w.duckdb", tmp_path / "truth")
    assert d["predicted_pairs"] == 3          # a1-a2, a1-b1, a2-b1
    assert d["true_pairs"] == 4               # a1-a2, a1-a3, a2-a3, b1-b2
    assert d["correct_pairs"] == 1            # a1-a2
    assert d["precision"] == pytest.approx(1 / 3)
    assert d["recall"] == pytest.approx(1 / 4)
    assert d["f1"] == pytest.approx(2 * (1 / 3) * (1 / 4) / (1 / 3 + 1 / 4))
    assert (d["over_merged_people"], d["over_merged_customers"]) == (2, 1)
    assert d["under_merged_people"] == 2
    assert (d["records_evaluated"], d["records_resolved"], d["truth_records"]) == (5, 4, 6)
    assert d["records_not_in_truth"] == 1
    assert d["linkable_pairs"] is None        # no identity models in this warehouse: no ceiling
    report = format_report(d)
    assert "pairwise precision   0.3333" in report and "pairwise recall      0.2500" in report


def test_perfect_resolution_scores_one(tmp_path):
    write_truth(tmp_path / "truth", [("orders", "a1", "P1"), ("orders", "a2", "P1"), ("orders", "b1", "P2")])
    write_resolution(tmp_path / "w.duckdb", [("orders", "a1", "c1"), ("orders", "a2", "c1"), ("orders", "b1", "c2")])
    d = evaluate_identity(tmp_path / "w.duckdb", tmp_path / "truth")
    assert (d["precision"], d["recall"], d["f1"]) == (1.0, 1.0, 1.0)
    assert (d["over_merged_people"], d["under_merged_people"]) == (0, 0)


def test_missing_truth_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="journey generate"):
        evaluate_identity(tmp_path / "w.duckdb", tmp_path / "nowhere")
