"""Identity resolution measured against the generator's ground truth.

`evaluate_identity(warehouse, truth_dir)` joins the resolved customer of every record
(intermediate.int_identity__record_customers) with the true person of that record
(truth_dir/records.csv.gz: source, record_key, person_id) and counts pairs of records:

- a predicted pair: two records resolved to the same customer (a record without a customer is alone);
- a true pair: two records of the same person;
- precision = correct predicted pairs / predicted pairs; recall = correct predicted pairs / true pairs.

Over-merged people share a customer with another person's records (a false merge, the privacy incident);
under-merged people have records under several customers (or records that resolved to none).

The recall ceiling says how much of the truth the data can support at all: an oracle that knows the truth
links two records of a person only through evidence in the data (an identifier value both carry, directly
or through a chain of that person's records; any two person records of the person, CRM contacts and orders,
as if fuzzy matching never missed; the event stitches the pipeline found). Placeholders are not evidence.
Records with no such evidence (a cookie that never logged in, a till sale without card or phone) cannot be
placed by any resolver, so recall_vs_ceiling = correct pairs / pairs the oracle links.
Everything is computed in DuckDB, so it runs on millions of records.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

RECORD_CUSTOMERS = "intermediate.int_identity__record_customers"
RECORD_IDENTIFIERS = "intermediate.int_identity__record_identifiers"
IDENTIFIER_VALUES = "intermediate.int_identity__identifier_values"
EVENT_STITCHES = "intermediate.int_identity__event_stitches"


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
        linkable = _linkable_pairs(con)
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
        "linkable_pairs": linkable,
        "recall_ceiling": (linkable / true_pairs if true_pairs else 1.0) if linkable is not None else None,
        "recall_vs_ceiling": (correct / linkable if linkable else 1.0) if linkable is not None else None,
    }


def _linkable_pairs(con: duckdb.DuckDBPyConnection) -> int | None:
    """Pairs of same-person records the data can connect (see the module docstring); None without the models."""
    tables = {r[0] for r in con.execute(
        "select table_schema || '.' || table_name from information_schema.tables").fetchall()}
    if not {RECORD_IDENTIFIERS, IDENTIFIER_VALUES, EVENT_STITCHES} <= tables:
        return None
    con.execute(
        f"""
        create temp table evidence as
        select joined.person_id, joined.source || ':' || joined.record_key as record, ri.node_id as evidence
        from joined
        inner join {RECORD_IDENTIFIERS} as ri on ri.source_name = joined.source and ri.record_id = joined.record_key
        inner join {IDENTIFIER_VALUES} as iv on iv.node_id = ri.node_id and not iv.is_placeholder
        union all
        select person_id, source || ':' || record_key, 'person-record'
        from joined where source in ('crm_contacts', 'orders')
        union all
        select joined.person_id, joined.source || ':' || joined.record_key, 'stitch:' || st.stitch_id
        from (select distinct stitch_id from {EVENT_STITCHES}) as st
        inner join joined
            on st.stitch_id like joined.source || ':' || joined.record_key || ' ~ %'
            or st.stitch_id like '% ~ ' || joined.source || ':' || joined.record_key
        """
    )
    # bipartite graph record -- (person, evidence); components by label propagation
    con.execute(
        """
        create temp table oracle as
        with recursive
        edges as (
            select distinct record as a, person_id || '|' || evidence as b from evidence
        ),
        undirected as (select a as src, b as dst from edges union select b, a from edges),
        nodes as (select src as node from undirected union select dst from undirected),
        labels(node, label) using key (node) as (
            select node, node from nodes
            union
            select u.dst, min(l.label) from labels as l inner join undirected as u on u.src = l.node
            inner join recurring.labels as r on r.node = u.dst
            group by u.dst having min(l.label) < min(r.label)
        )
        select node, label from labels
        """
    )
    linkable, = con.execute(
        f"""
        select {_pairs('n')} from (
            select count(*) as n
            from joined
            left join oracle on oracle.node = joined.source || ':' || joined.record_key
            group by joined.person_id, coalesce(oracle.label, '~' || joined.source || ':' || joined.record_key)
        )
        """
    ).fetchone()
    return int(linkable)


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
        _ceiling_line(d),
        "  per source           " + ", ".join(
            f"{s} {v['resolved']:,}/{v['records']:,}" for s, v in d["per_source"].items()),
    ]
    return "\n".join(line for line in lines if line)


def _ceiling_line(d: dict) -> str:
    if d.get("linkable_pairs") is None:
        return ""
    return (f"  recall ceiling       {d['recall_ceiling']:.4f}   ({d['linkable_pairs']:,} true pairs have evidence in the data; "
            f"recall of those {d['recall_vs_ceiling']:.4f})")
