"""Identity resolution measured against the generator's ground truth.

`evaluate_identity(warehouse, truth_dir)` joins the resolved customer of every record
(intermediate.int_identity__record_customers) with the true person of that record
(truth_dir/records.csv.gz: source, record_key, person_id) and counts pairs of records:

- a predicted pair: two records resolved to the same customer (a record without a customer is alone);
- a true pair: two records of the same person;
- precision = correct predicted pairs / predicted pairs; recall = correct predicted pairs / true pairs.

Over-merged people share a customer with another person's records (a false merge, the privacy incident);
under-merged people have records under several customers (or records that resolved to none).
Everything is computed in DuckDB, so it runs on millions of records.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

RECORD_CUSTOMERS = "intermediate.int_identity__record_customers"


def _pairs(expr: str) -> str:
    return f"coalesce(sum({expr} * ({expr} - 1) / 2), 0)"


def evaluate_identity(warehouse: Path, truth_dir: Path) -> dict:
    """Pairwise precision/recall/F1 of the resolved customers against the truth, plus merge error counts."""
    truth_file = Path(truth_dir) / "records.csv.gz"
    if not truth_file.exists():
        raise FileNotFoundError(f"no ground truth at {truth_file}: pass the truth/ folder written by `journey generate`")
    if not Path(warehouse).exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `journey run` first")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(
            "create temp table truth as select source, record_key, person_id "
            f"from read_csv('{truth_file}', header = true, all_varchar = true)"
        )
        con.execute(
            f"""
            create temp table joined as
            select
                truth.source, truth.record_key, truth.person_id,
                -- a record without a customer is a cluster of its own
                coalesce(rc.customer_id, '~' || truth.source || ':' || truth.record_key) as cluster_id,
                rc.customer_id is not null as is_resolved
            from truth
            inner join {RECORD_CUSTOMERS} as rc
                on rc.source_name = truth.source and rc.record_id = truth.record_key
            """
        )
        truth_records, = con.execute("select count(*) from truth").fetchone()
        records, resolved = con.execute("select count(*), count(*) filter (where is_resolved) from joined").fetchone()
        warehouse_only, = con.execute(
            f"select count(*) from {RECORD_CUSTOMERS} rc where not exists "
            "(select 1 from truth where truth.source = rc.source_name and truth.record_key = rc.record_id)"
        ).fetchone()
        predicted, = con.execute(
            f"select {_pairs('n')} from (select count(*) as n from joined group by cluster_id)").fetchone()
        true_pairs, = con.execute(
            f"select {_pairs('n')} from (select count(*) as n from joined group by person_id)").fetchone()
        correct, = con.execute(
            f"select {_pairs('n')} from (select count(*) as n from joined group by cluster_id, person_id)").fetchone()
        people, = con.execute("select count(distinct person_id) from joined").fetchone()
        customers, = con.execute("select count(distinct cluster_id) from joined where is_resolved").fetchone()
        over_merged_people, over_merged_customers = con.execute(
            """
            with mixed as (
                select cluster_id from joined where is_resolved group by cluster_id having count(distinct person_id) > 1
            )
            select count(distinct joined.person_id), count(distinct mixed.cluster_id)
            from joined inner join mixed using (cluster_id)
            """
        ).fetchone()
        under_merged_people, = con.execute(
            "select count(*) from (select person_id from joined group by person_id having count(distinct cluster_id) > 1)"
        ).fetchone()
        per_source = con.execute(
            "select source, count(*), count(*) filter (where is_resolved) from joined group by source order by source"
        ).fetchall()
    finally:
        con.close()
    precision = correct / predicted if predicted else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "warehouse": str(warehouse),
        "truth": str(truth_file),
        "truth_records": int(truth_records),
        "records_evaluated": int(records),
        "records_resolved": int(resolved),
        "records_not_in_truth": int(warehouse_only),
        "people": int(people),
        "customers": int(customers),
        "predicted_pairs": int(predicted),
        "true_pairs": int(true_pairs),
        "correct_pairs": int(correct),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "over_merged_people": int(over_merged_people),
        "over_merged_customers": int(over_merged_customers),
        "under_merged_people": int(under_merged_people),
        "per_source": {s: {"records": int(n), "resolved": int(r)} for s, n, r in per_source},
    }


def format_report(d: dict) -> str:
    """The evaluation as a short text report."""
    lines = [
        f"Identity resolution vs ground truth ({d['truth']})",
        f"  warehouse            {d['warehouse']}",
        f"  records evaluated    {d['records_evaluated']:,} of {d['truth_records']:,} in the truth "
        f"({d['records_resolved']:,} resolved to a customer; {d['records_not_in_truth']:,} warehouse records not in the truth)",
        f"  people / customers   {d['people']:,} true people, {d['customers']:,} resolved customers",
        f"  pairwise precision   {d['precision']:.4f}   ({d['correct_pairs']:,} of {d['predicted_pairs']:,} predicted pairs)",
        f"  pairwise recall      {d['recall']:.4f}   ({d['correct_pairs']:,} of {d['true_pairs']:,} true pairs)",
        f"  pairwise F1          {d['f1']:.4f}",
        f"  over-merged          {d['over_merged_people']:,} people in {d['over_merged_customers']:,} customers that mix people",
        f"  under-merged         {d['under_merged_people']:,} people whose records are under more than one customer (or none)",
        "  per source           " + ", ".join(
            f"{s} {v['resolved']:,}/{v['records']:,}" for s, v in d["per_source"].items()),
    ]
    return "\n".join(lines)
