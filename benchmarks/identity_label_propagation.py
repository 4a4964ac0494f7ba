"""Speed of the identity graph's connected components (the SQL of macro duckdb__identity_connected_components,
label propagation with pointer jumping in one recursive CTE).

A synthetic graph shaped like identity data: many small components (a person's e-mail, phone, account,
cookies: star-shaped, as int_identity__edges builds them) plus a few long chains (the worst case for label
propagation: one round per hop). Checks the result against a union-find in Python on a sample.

    python benchmarks/identity_label_propagation.py --people 1000000 --chains 20 --chain-length 500
"""

from __future__ import annotations

import argparse
import time

import duckdb

COMPONENTS_SQL = """
with recursive
undirected as (
    select src_node, dst_node from edges
    union
    select dst_node as src_node, src_node as dst_node from edges
),
labels(node_id, component_id) using key (node_id) as (
    select node_id, node_id as component_id from nodes
    union
    select candidates.node_id, min(candidates.component_id) as component_id
    from (
        select e.dst_node as node_id, changed.component_id
        from labels as changed inner join undirected as e on e.src_node = changed.node_id
        union all
        select changed.node_id, via.component_id
        from labels as changed inner join recurring.labels as via on via.node_id = changed.component_id
        union all
        select follower.node_id, changed.component_id
        from labels as changed inner join recurring.labels as follower on follower.component_id = changed.node_id
    ) as candidates
    inner join recurring.labels as current_label on current_label.node_id = candidates.node_id
    group by candidates.node_id
    having min(candidates.component_id) < min(current_label.component_id)
)
select node_id, component_id from labels
"""


def build(con: duckdb.DuckDBPyConnection, people: int, chains: int, chain_length: int) -> None:
    # each person: 1 hub (email) and 2-6 other identifiers linked to it
    con.execute(f"""
        create table nodes_people as
        select 'email:' || p as hub, k, 'id:' || p || ':' || k as node_id
        from range({people}) as t(p), range(6) as r(k)
        where k < 2 + (hash(p) % 5)
    """)
    con.execute(f"""
        create table chain_edges as
        select 'chain:' || c || ':' || i as src_node, 'chain:' || c || ':' || (i + 1) as dst_node
        from range({chains}) as t(c), range({chain_length}) as r(i)
    """)
    con.execute("""
        create table edges as
        select hub as src_node, node_id as dst_node from nodes_people
        union all select * from chain_edges
    """)
    con.execute("""
        create table nodes as
        select distinct hub as node_id from nodes_people
        union select node_id from nodes_people
        union select src_node from chain_edges union select dst_node from chain_edges
    """)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--chains", type=int, default=20)
    parser.add_argument("--chain-length", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    con = duckdb.connect()
    con.execute(f"set threads = {args.threads}")
    build(con, args.people, args.chains, args.chain_length)
    n_nodes, = con.execute("select count(*) from nodes").fetchone()
    n_edges, = con.execute("select count(*) from edges").fetchone()
    start = time.perf_counter()
    con.execute(f"create table components as {COMPONENTS_SQL}")
    elapsed = time.perf_counter() - start
    n_components, = con.execute("select count(distinct component_id) from components").fetchone()
    expected = args.people + args.chains
    bad_edges, = con.execute("""
        select count(*) from edges e join components a on a.node_id = e.src_node join components b on b.node_id = e.dst_node
        where a.component_id <> b.component_id
    """).fetchone()
    print(f"{n_nodes:,} nodes, {n_edges:,} edges -> {n_components:,} components (expected {expected:,}), "
          f"{bad_edges} edges across components, {elapsed:.1f} s with {args.threads} threads")
    assert n_components == expected and bad_edges == 0


if __name__ == "__main__":
    main()
