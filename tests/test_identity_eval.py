"""evaluate_identity on a hand-made warehouse and truth: pairwise precision/recall and merge error counts."""

from __future__ import annotations

import gzip

import duckdb
import pytest

from orchestration.lib.identity_eval import evaluate_identity, format_report


def write_truth(truth_dir, rows, header="source,record_key,person_id"):
    truth_dir.mkdir()
    with gzip.open(truth_dir / "records.csv.gz", "wt") as f:
        f.write(header + "\n")
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
    assert (d["records_in_warehouse"], d["records_resolved"], d["truth_records"]) == (5, 4, 6)
    assert d["records_evaluated"] == 6        # every truth record; 'gone' is alone
    assert d["records_not_in_truth"] == 1
    assert d["supportable_pairs"] is None     # a truth without links: nothing to say what the data supports
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


def test_supportable_pairs_come_from_the_truth_alone(tmp_path):
    """P1: order o1, its purchase event w1 (order id), newsletter click e1 (same e-mail), landing w2 whose subscriber
    parameter was stripped. P2: CRM contact c1, till sale t1 without card or phone, purchase event w3 with P1's
    order id (a cached page: not evidence). The warehouse lost e1, stitched w2 to P1 and merged w3 into P1."""
    header = "source,record_key,person_id,links,gap"
    write_truth(tmp_path / "truth", [
        ("orders", "o1", "P1", "email:a@x|order:O1|person:P1", ""),
        ("web_events", "w1", "P1", "cookie:k1|order:O1", ""),
        ("web_events", "w2", "P1", "cookie:k2", "subscriber_stripped"),
        ("email_events", "e1", "P1", "email:a@x|subscriber:S1", ""),
        ("crm_contacts", "c1", "P2", "contact:c1|email:b@x|person:P2", ""),
        ("pos_transactions", "t1", "P2", "", ""),
        ("web_events", "w3", "P2", "cookie:k3", "order_id_stale"),
    ], header)
    write_resolution(tmp_path / "w.duckdb", [
        ("orders", "o1", "X"), ("web_events", "w1", "X"), ("web_events", "w2", "X"), ("web_events", "w3", "X"),
        ("crm_contacts", "c1", "Z"), ("pos_transactions", "t1", None),
    ])
    d = evaluate_identity(tmp_path / "w.duckdb", tmp_path / "truth")
    assert (d["truth_records"], d["records_in_warehouse"]) == (7, 6)
    assert (d["predicted_pairs"], d["true_pairs"], d["correct_pairs"]) == (6, 9, 3)  # X: 4 records; P1 6 + P2 3
    assert (d["over_merged_people"], d["over_merged_customers"], d["under_merged_people"]) == (2, 1, 2)
    assert d["supportable_pairs"] == 3                # o1-w1 (order), o1-e1 and w1-e1 (e-mail through o1)
    assert d["correct_supportable_pairs"] == 1        # o1-w1; e1 was lost
    assert d["recall_supportable"] == pytest.approx(1 / 3)
    assert d["unsupported_linked_pairs"] == 2         # o1-w2, w1-w2: stitched without evidence in the truth
    assert d["missed_by_cause"] == {
        "newsletter landing without subscriber parameter": 3,   # w2 against o1, w1, e1
        "no shared evidence: pos_transactions": 2,               # t1 against c1 and w3
        "supportable, a record lost or quarantined before identity": 2,  # e1 against o1 and w1
        "purchase event with another order's id": 1,             # w3 against c1
    }
    report = format_report(d)
    assert "recall (supportable) 0.3333" in report and "newsletter landing without subscriber parameter" in report
