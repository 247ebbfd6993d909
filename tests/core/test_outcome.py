from __future__ import annotations

from collections import namedtuple

from covalent_ray.core.outcome import (
    Failed,
    NodeRef,
    Skipped,
    collect_failures,
    failure_message,
    substitute,
    template_refs,
)

Pair = namedtuple("Pair", "left right")


def test_substitute_rebuilds_nested_structures() -> None:
    template = {"a": NodeRef(0), "b": [NodeRef(1), (NodeRef(0), 5)], "c": Pair(NodeRef(1), "x")}
    out = substitute(template, {0: 10, 1: 20})
    assert out == {"a": 10, "b": [20, (10, 5)], "c": Pair(20, "x")}
    assert isinstance(out["c"], Pair)


def test_substitute_sets_and_dict_keys() -> None:
    assert substitute({NodeRef(0): {NodeRef(1)}}, {0: "k", 1: 3}) == {"k": {3}}


def test_template_refs_in_order_without_duplicates() -> None:
    assert template_refs([NodeRef(2), {"x": NodeRef(0)}, NodeRef(2)]) == [2, 0]
    assert template_refs(42) == []


def test_failures_are_collected_once_and_ordered() -> None:
    f1, f3 = Failed(1, "a", "ValueError: x"), Failed(3, "b", "KeyError: y")
    values = [5, Skipped((f3, f1)), f1, "ok"]
    assert collect_failures(values) == (f1, f3)
    assert failure_message((f1, f3)) == (
        "The following electrons failed:\n1: a: ValueError: x\n3: b: KeyError: y"
    )
