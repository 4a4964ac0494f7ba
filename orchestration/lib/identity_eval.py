"""Identity resolution measured against the generator's ground truth.

`evaluate_identity(warehouse, truth_dir)` joins the resolved customer of every record
(intermediate.int_identity__record_customers) with the true person of that record
(truth_dir/records.csv.gz: source, record_key, person_id, links, gap) and counts pairs of records:

- a predicted pair: two records resolved to the same customer (a record without a customer is alone);
- a true pair: two records of the same person;
- precision = correct predicted pairs / predicted pairs; recall = correct predicted pairs / true pairs.

Every truth record counts: a record the warehouse lost or quarantined is alone (unlinked).
Over-merged people share a customer with another person's records (a false merge, the privacy incident);
under-merged people have records under several customers (or records that resolved to none).

What the data can support is computed from the truth file alone, never from warehouse tables, so a resolver
that loses links cannot lower it with its own recall: the generator writes per record the link evidence it
exported (`links`: e-mail, phone, cookie, device, account, loyalty card, CRM contact, order and subscriber ids
as exported, placeholders and wrong values left out, and 'person:' on CRM contacts and orders, as if fuzzy
matching never missed) and why a link is missing (`gap`). Two records of a person are *supportable* when a chain
of that person's records sharing evidence connects them. recall_supportable = correct supportable pairs /
supportable pairs. Time-window stitches (a guest purchase without order id, a click whose landing lost its
subscriber parameter) are not evidence: the resolver may still find them, and they count in the overall recall.

Missed pairs are broken down by cause: pairs no evidence supports, by what the smaller part of the person is
(each unsupported pair counted once, with the smaller of its two parts: the cause is the gap most of its records
show, else what its records are), and supportable pairs the warehouse lost (a record not in it) or did not link.
Everything is computed in DuckDB, so it runs on millions of records.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

RECORD_CUSTOMERS = "intermediate.int_identity__record_customers"

GAP_CAUSES = {
    "order_id_missing": "purchase event without order id",
    "order_id_stale": "purchase event with another order's id",
    "subscriber_stripped": "newsletter landing without subscriber parameter",
    "subscriber_unrendered": "newsletter link with an unrendered merge tag",
    "placeholder": "placeholder e-mail or phone only",
}


def _pairs(expr: str) -> str:
    return f"coalesce(sum({expr} * ({expr} - 1) / 2), 0)"


def evaluate_identity(warehouse: Path, truth_dir: Path) -> dict:
    """Pairwise precision/recall/F1 of the resolved customers against the truth, merge errors, supportable pairs."""
    truth_file = Path(truth_dir) / "records.csv.gz"
    if not truth_file.exists():
        raise FileNotFoundError(f"no ground truth at {truth_file}: pass the truth/ folder written by `journey generate`")
    if not Path(warehouse).exists():
        raise FileNotFoundError(f"no warehouse at {warehouse}: run `journey run` first")
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        con.execute(f"create temp table truth as select * from read_csv('{truth_file}', header = true, all_varchar = true)")
        has_links = {"links", "gap"} <= {r[0] for r in con.execute("describe truth").fetchall()}
        con.execute(
            f"""
            create temp table joined as
            select
                truth.source, truth.record_key, truth.person_id,
                -- a record without a customer, or not in the warehouse, is a cluster of its own
                coalesce(rc.customer_id, '~' || truth.source || ':' || truth.record_key) as cluster_id,
                rc.customer_id is not null as is_resolved,
                rc.record_id is not null as in_warehouse
            from truth
            left join {RECORD_CUSTOMERS} as rc
                on rc.source_name = truth.source and rc.record_id = truth.record_key
            """
        )
        truth_records, in_warehouse, resolved = con.execute(
            "select count(*), count(*) filter (where in_warehouse), count(*) filter (where is_resolved) from joined"
        ).fetchone()
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
        support = _supportable(con) if has_links else None
    finally:
        con.close()
    precision = correct / predicted if predicted else 1.0
    recall = correct / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result = {
        "warehouse": str(warehouse),
        "truth": str(truth_file),
        "truth_records": int(truth_records),
        "records_evaluated": int(truth_records),
        "records_in_warehouse": int(in_warehouse),
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
        "over_merged_share": over_merged_people / people if people else 0.0,
        "under_merged_people": int(under_merged_people),
        "per_source": {s: {"records": int(n), "resolved": int(r)} for s, n, r in per_source},
        "supportable_pairs": None,
        "recall_supportable": None,
        "missed_by_cause": None,
    }
    if support is not None:
        supportable, correct_supportable, causes = support
        result["supportable_pairs"] = supportable
        result["correct_supportable_pairs"] = correct_supportable
        result["recall_supportable"] = correct_supportable / supportable if supportable else 1.0
        result["supportable_share"] = supportable / true_pairs if true_pairs else 1.0
        result["missed_by_cause"] = causes
        result["unsupported_linked_pairs"] = int(correct) - correct_supportable
    return result


def _supportable(con: duckdb.DuckDBPyConnection) -> tuple[int, int, dict[str, int]]:
    """Supportable pairs, the correct ones among them, and missed pairs by cause (see the module docstring)."""
    # bipartite graph record -- (person, evidence); components by label propagation
    con.execute(
        """
        create temp table oracle as
        with recursive
        edges as (
            select distinct source || ':' || record_key as a, person_id || '|' || evidence as b
            from (select source, record_key, person_id, unnest(string_split(links, '|')) as evidence from truth
                  where coalesce(links, '') <> '')
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
    con.execute(
        """
        create temp table parts as
        select joined.*, coalesce(oracle.label, '~' || joined.source || ':' || joined.record_key) as part,
            coalesce(truth.gap, '') as gap
        from joined
        inner join truth using (source, record_key)
        left join oracle on oracle.node = joined.source || ':' || joined.record_key
        """
    )
    supportable, = con.execute(
        f"select {_pairs('n')} from (select count(*) as n from parts group by person_id, part)").fetchone()
    correct_supportable, = con.execute(
        f"select {_pairs('n')} from (select count(*) as n from parts group by person_id, part, cluster_id)").fetchone()
    # Supportable pairs missed: those with a record the warehouse does not have, and the rest.
    lost, = con.execute(
        """
        select coalesce(sum(missing * (n - missing) + missing * (missing - 1) / 2), 0)
        from (select count(*) as n, count(*) filter (where not in_warehouse) as missing from parts group by person_id, part)
        """
    ).fetchone()
    causes: dict[str, int] = {}
    not_linked = int(supportable) - int(correct_supportable) - int(lost)
    # Unsupported pairs: each part of a person (but the largest) against the larger parts before it.
    rows = con.execute(
        """
        with part_stats as (
            select person_id, part, count(*) as n,
                mode(nullif(gap, '')) as gap,
                string_agg(distinct source, '+' order by source) as sources
            from parts group by person_id, part
        ),
        ranked as (
            select *, sum(n) over (partition by person_id order by n desc, part
                                   rows between unbounded preceding and 1 preceding) as before
            from part_stats
        )
        select coalesce(gap, sources), sum(n * before) from ranked where before is not null group by all
        """
    ).fetchall()
    for key, pairs in rows:
        label = GAP_CAUSES.get(key.split("|")[0]) if key else None
        label = label or f"no shared evidence: {key}"
        causes[label] = causes.get(label, 0) + int(pairs)
    if lost:
        causes["supportable, a record lost or quarantined before identity"] = int(lost)
    if not_linked:
        causes["supportable, not linked by the resolver"] = not_linked
    return int(supportable), int(correct_supportable), dict(sorted(causes.items(), key=lambda kv: -kv[1]))


def format_report(d: dict) -> str:
    """The evaluation as a short text report."""
    lines = [
        f"Identity resolution vs ground truth ({d['truth']})",
        f"  warehouse            {d['warehouse']}",
        f"  records evaluated    {d['records_evaluated']:,} (every truth record; {d['records_in_warehouse']:,} in the "
        f"warehouse, {d['records_resolved']:,} resolved to a customer; {d['records_not_in_truth']:,} warehouse "
        "records not in the truth)",
        f"  people / customers   {d['people']:,} true people, {d['customers']:,} resolved customers",
        f"  pairwise precision   {d['precision']:.4f}   ({d['correct_pairs']:,} of {d['predicted_pairs']:,} predicted pairs)",
        f"  pairwise recall      {d['recall']:.4f}   ({d['correct_pairs']:,} of {d['true_pairs']:,} true pairs)",
        f"  pairwise F1          {d['f1']:.4f}",
        f"  over-merged          {d['over_merged_people']:,} people ({d['over_merged_share']:.2%}) in "
        f"{d['over_merged_customers']:,} customers that mix people",
        f"  under-merged         {d['under_merged_people']:,} people whose records are under more than one customer (or none)",
        *_support_lines(d),
        "  per source           " + ", ".join(
            f"{s} {v['resolved']:,}/{v['records']:,}" for s, v in d["per_source"].items()),
    ]
    return "\n".join(line for line in lines if line)


def _support_lines(d: dict) -> list[str]:
    if d.get("supportable_pairs") is None:
        return ["  supportable pairs    n/a (the truth has no links column: generated before links were recorded)"]
    lines = [
        f"  supportable pairs    {d['supportable_pairs']:,} ({d['supportable_share']:.4f} of the true pairs have "
        "evidence in the exports, from the truth alone)",
        f"  recall (supportable) {d['recall_supportable']:.4f}   ({d['correct_supportable_pairs']:,} of "
        f"{d['supportable_pairs']:,})",
        f"  missed pairs by cause (pairs without support: {d['unsupported_linked_pairs']:,} of them linked anyway, by "
        "time-window stitches or fuzzy matches)",
    ]
    lines += [f"    {pairs:>12,}  {cause}" for cause, pairs in d["missed_by_cause"].items()]
    return lines
