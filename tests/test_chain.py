"""Chain resolution and base choice, checked against a model of the tree.

A random history of trees is backed up with random levels (some runs failing);
each set records its changes against the base the rules choose. Restoring any
complete set through its chain must give exactly the tree at that time, and the
chain must be the one docs/architecture.md describes ("Backup levels and the restore chain")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapetui.engine.backup.chain import (
    ChainError,
    choose_base,
    merge_newest,
    newest_by,
    overwritten_newer,
    resolve_chain,
)

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


@dataclass
class FakeSet:
    id: int
    level: str
    status: str
    base_set_id: int | None
    started_at: datetime
    finished_at: datetime | None
    source_key: str = "k"


def rule_chain(sets: list[FakeSet], target: FakeSet) -> list[FakeSet]:
    """docs/architecture.md's words: the full, the newest differential after it, every incremental after that."""
    upto = [s for s in sets if s.status == "complete" and s.id <= target.id]
    full_at = max(i for i, s in enumerate(upto) if s.level == "full")
    rest = upto[full_at + 1 :]
    diffs = [i for i, s in enumerate(rest) if s.level == "differential"]
    if diffs:
        d = diffs[-1]
        return [upto[full_at], rest[d], *[s for s in rest[d + 1 :] if s.level == "incremental"]]
    return [upto[full_at], *[s for s in rest if s.level == "incremental"]]


def apply(chain: list[dict[str, object]]) -> dict[str, int]:
    state: dict[str, int] = {}
    for delta in chain:
        for path, value in delta.items():
            if value is None:
                state.pop(path, None)
            else:
                state[path] = value  # type: ignore[assignment]
    return state


history = st.lists(
    st.tuples(
        st.sampled_from(["full", "incremental", "differential"]),
        st.booleans(),  # the run completes
        st.dictionaries(st.sampled_from("abcdefgh"), st.one_of(st.none(), st.integers(0, 3)), max_size=4),
    ),
    min_size=1, max_size=14,
)


@settings(max_examples=300, deadline=None)
@given(history)
def test_chains_restore_the_tree_of_their_time(steps) -> None:
    tree: dict[str, int] = {}
    sets: list[FakeSet] = []
    deltas: dict[int, dict] = {}
    trees: dict[int, dict[str, int]] = {}
    for i, (requested, completes, edits) in enumerate(steps, start=1):
        for path, value in edits.items():  # the tree changes (None: deleted)
            if value is None:
                tree.pop(path, None)
            else:
                tree[path] = value
        level, base = choose_base(sets, requested)
        if requested == "full" or base is None:
            assert level == "full"
        base_state = apply([deltas[s.id] for s in resolve_chain({s.id: s for s in sets}, base.id)]) if base else {}
        delta: dict[str, object] = {p: v for p, v in tree.items() if base_state.get(p) != v}
        delta.update({p: None for p in base_state if p not in tree})
        t = T0 + timedelta(hours=i)
        sets.append(FakeSet(i, level, "complete" if completes else "incomplete", base.id if base else None, t,
                            t + timedelta(minutes=1)))
        deltas[i] = delta
        trees[i] = dict(tree)
    by_id = {s.id: s for s in sets}
    for s in sets:
        if s.status != "complete":
            with pytest.raises(ChainError, match="incomplete"):
                resolve_chain(by_id, s.id)
            continue
        chain = resolve_chain(by_id, s.id)
        assert apply([deltas[c.id] for c in chain]) == trees[s.id]
        assert [c.id for c in chain] == [c.id for c in rule_chain(sets, s)]
        # "as of time T" between this set's end and the next start picks this set
        assert newest_by(sets, s.finished_at + timedelta(seconds=1)) == [s]  # type: ignore[operator]


def test_a_chain_through_an_overwritten_set_says_so() -> None:
    sets = {
        1: FakeSet(1, "full", "overwritten", None, T0, T0),
        2: FakeSet(2, "incremental", "complete", 1, T0 + timedelta(1), T0 + timedelta(1)),
    }
    with pytest.raises(ChainError, match="set 1 .*needed to restore set 2.* overwritten"):
        resolve_chain(sets, 2)
    with pytest.raises(ChainError, match="no backup set 9"):
        resolve_chain(sets, 9)


def test_nothing_finished_by_the_time_asked() -> None:
    with pytest.raises(ChainError, match="no complete backup set"):
        newest_by([FakeSet(1, "full", "complete", None, T0, T0)], T0 - timedelta(days=1))


def test_the_newest_chain_covering_a_path_decides_it() -> None:
    merged = merge_newest([
        (["/d"], {"/d": "old", "/d/x": "old", "/d/sub": "old", "/d/sub/y": "old", "/d/subway": "old"}),
        (["/e"], {"/e": "mid", "/e/z": "mid"}),  # a disjoint folder adds up
        (["/d/sub"], {"/d/sub": "new", "/d/sub/w": "new"}),  # /d/sub/y was gone by then
    ])
    assert merged == {"/d": "old", "/d/x": "old", "/d/subway": "old", "/d/sub": "new", "/d/sub/w": "new",
                      "/e": "mid", "/e/z": "mid"}
    assert merge_newest([(["/d"], {"/d/x": 1}), (["/"], {"/e": 2})]) == {"/e": 2}


def test_overwritten_sets_newer_than_what_is_restored_are_named() -> None:
    def at(h: int) -> datetime:
        return T0 + timedelta(hours=h)

    folders = {"k": ["/d"], "k2": ["/d"], "other": ["/o"]}
    sets = [
        FakeSet(1, "full", "complete", None, at(1), at(1)),
        FakeSet(2, "full", "overwritten", None, at(2), at(2)),
        FakeSet(3, "full", "overwritten", None, at(3), at(3), source_key="other"),
        FakeSet(4, "full", "overwritten", None, at(4), at(4), source_key="k2"),
    ]

    def named(when: datetime, these: list[FakeSet]) -> list[tuple[int, list[int]]]:
        return [(s.id, [u.id for u in instead])
                for s, instead in overwritten_newer(these, when, lambda s: folders[s.source_key])]

    assert named(at(5), sets) == [(2, [1]), (3, []), (4, [1])]
    assert named(at(2), sets) == [(2, [1])]
    assert named(at(1), sets) == []
    newer = FakeSet(5, "full", "complete", None, at(5), at(5), source_key="k2")  # a newer set covers /d again
    assert named(at(6), [*sets, newer]) == [(3, [])]
