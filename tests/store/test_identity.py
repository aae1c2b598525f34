"""Subject linking (``store.identity.link_subjects``) against a union-find written out here,
on hand-made graphs and on random ones that need several rounds of propagation."""

from __future__ import annotations

import random

import duckdb
import pyarrow as pa
import pytest

from imaging_hub.store.identity import link_subjects

Row = tuple[str, str, str | None, str]  # source, subject_id, study_uid, access


def keys(rows: list[Row]) -> dict[tuple[str, str], str]:
    con = duckdb.connect()
    con.register("recs", pa.table({
        "source": [r[0] for r in rows], "subject_id": [r[1] for r in rows],
        "study_uid": pa.array([r[2] for r in rows], pa.string()),
        "access": [r[3] for r in rows]}))
    link_subjects(con, "recs")
    got = {(s, p): k for s, p, k in con.execute("SELECT * FROM subject_of").fetchall()}
    con.close()
    return got


def reference(rows: list[Row]) -> dict[tuple[str, str], str]:
    """The rule of store/identity.py written as a union-find: per (study, source) the
    smallest subject links; sequestered records and records without a study link nothing."""
    parent: dict[tuple[str, str], tuple[str, str]] = {(r[0], r[1]): (r[0], r[1]) for r in rows}

    def find(x: tuple[str, str]) -> tuple[str, str]:
        while parent[x] != x:
            x = parent[x]
        return x

    reps: dict[tuple[str, str], tuple[str, str]] = {}
    for source, subject, study, access in rows:
        if study is not None and access != "sequestered":
            key = (study, source)
            reps[key] = min(reps.get(key, (source, subject)), (source, subject))
    by_study: dict[str, list[tuple[str, str]]] = {}
    for (study, _), rep in reps.items():
        by_study.setdefault(study, []).append(rep)
    for members in by_study.values():
        for other in members[1:]:
            a, b = find(members[0]), find(other)
            parent[max(a, b)] = min(a, b)
    names: dict[tuple[str, str], str] = {}
    for node in parent:
        root = find(node)
        name = f"{node[0]}:{node[1]}"
        names[root] = min(names.get(root, name), name)
    return {node: names[find(node)] for node in parent}


def test_mirrored_patient_is_one_subject_but_a_source_keeps_its_own_ids() -> None:
    rows: list[Row] = [
        ("idc", "P1", "1.1", "open"), ("tcia", "T-9", "1.1", "open"),  # one person, two hosts
        ("idc", "P2", "1.2", "open"), ("idc", "P3", "1.2", "open"),  # same study, one source
        ("tcia", "T-5", "1.2", "open"),  # links the smaller of P2/P3 only
        ("gated", "G1", "1.3", "sequestered"), ("idc", "P4", "1.3", "open"),  # kept back
        ("export", "E1", None, "open"),  # no study: links nothing
    ]
    got = keys(rows)
    assert got[("tcia", "T-9")] == got[("idc", "P1")] == "idc:P1"
    assert got[("tcia", "T-5")] == got[("idc", "P2")] == "idc:P2"
    assert got[("idc", "P3")] == "idc:P3"
    assert got[("gated", "G1")] == "gated:G1" and got[("idc", "P4")] == "idc:P4"
    assert got[("export", "E1")] == "export:E1"
    assert got == reference(rows)


def test_a_long_chain_of_hosts_links_end_to_end() -> None:
    # a—b share study s0, b—c share s1, ...: the component spans 40 sources
    rows: list[Row] = []
    for i in range(40):
        rows += [(f"src{i:02d}", f"p{i}", f"s{i}", "open"),
                 (f"src{i + 1:02d}", f"p{i + 1}", f"s{i}", "open")]
    got = keys(rows)
    assert set(got.values()) == {"src00:p0"}
    assert got == reference(rows)


@pytest.mark.parametrize("seed", range(5))
def test_random_graphs_match_the_union_find(seed: int) -> None:
    rng = random.Random(seed)
    rows: list[Row] = [
        (f"s{rng.randrange(4)}", f"p{rng.randrange(60)}",
         None if rng.random() < 0.05 else f"st{rng.randrange(80)}",
         "sequestered" if rng.random() < 0.1 else "open")
        for _ in range(400)]
    assert keys(rows) == reference(rows)
