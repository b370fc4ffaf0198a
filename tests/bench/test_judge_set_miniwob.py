"""The judge benchmark's MiniWoB++ pairs: labelled by the environment's own reward, read from a project's store
(read-only), and replayed by nobody (the replay judge leaves them out, never counts them as a pass)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from judge_quality import earlier_replay, replay_verdicts  # noqa: E402
from judge_set import load_pairs  # noqa: E402
from judge_set_miniwob import build, episodes  # noqa: E402

PAGE = "RootWebArea 'Click Button Task'\n\t[12] button '{a}', clickable=True\n\t[14] button '{b}', clickable=True"


def _store(path: Path, rows: list[tuple[str, str, int, float, str]]) -> Path:
    """A store with the columns the builder reads: (key, goal, seed, reward, clicked bid) per episode."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE trajectories (id INTEGER PRIMARY KEY, key TEXT, status TEXT, answer TEXT, config_json TEXT,"
        " final_observation TEXT, final_url TEXT);"
        "CREATE TABLE steps (trajectory_id INTEGER, idx INTEGER, action TEXT, observation TEXT, url TEXT, error TEXT);"
    )
    for n, (key, goal, seed, reward, bid) in enumerate(rows, 1):
        config = {"goal": goal, "env_task": "miniwob.click-button", "seed": seed, "reward": reward}
        page = PAGE.format(a="OK", b="Cancel")
        conn.execute(
            "INSERT INTO trajectories VALUES (?, ?, 'done', NULL, ?, ?, 'http://x/')",
            (n, key, json.dumps(config), page),
        )
        conn.execute("INSERT INTO steps VALUES (?, 0, ?, ?, 'http://x/', NULL)", (n, f"click('{bid}')", page))
    conn.execute("INSERT INTO trajectories VALUES (99, 'no-reward', 'done', NULL, '{}', '', '')")
    conn.commit()
    conn.close()
    return path


def test_pairs_are_labelled_by_the_reward_and_another_seeds_goal(tmp_path: Path) -> None:
    db = _store(
        tmp_path / "lbi.db",
        [
            ("a", 'Click on the "OK" button.', 1, 1.0, "12"),
            ("b", 'Click on the "Cancel" button.', 2, 0.0, "12"),
            ("c", 'Click on the "ok" button.', 3, 1.0, "12"),
            ("d", 'Click on the "OK" button.', 4, 1.0, "12"),  # the same (goal, actions) as "a": left out
        ],
    )
    eps = episodes(db)
    assert sorted(e["key"] for e in eps) == ["a", "b", "c", "d"]  # one without a reward is not an episode here
    pairs, pages = build(eps, per_kind=5)
    kinds = sorted((p["kind"], p["label"], p["instruction"]) for p in pairs)
    assert ("unrewarded", False, 'Click on the "Cancel" button.') in kinds
    assert sum(k == "positive" for k, *_ in kinds) == 2  # "a" or "d" (one of the two), and "c"
    others = [(label, goal) for kind, label, goal in kinds if kind == "other_goal"]
    assert others and all(goal == 'Click on the "Cancel" button.' and not label for label, goal in others)
    # "OK" for "ok" (case only) is moot and never a pair
    (tmp_path / "miniwob.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    (tmp_path / "miniwob.pages.json").write_text(json.dumps(pages), encoding="utf-8")
    loaded = load_pairs(tmp_path / "miniwob.jsonl")
    assert loaded[0]["steps"][0]["effect"] is None and "\t[12] button" in loaded[0]["steps"][0]["observation"]


def test_miniwob_pairs_are_reported_as_not_replayable(tmp_path: Path) -> None:
    pairs = [{"id": "x/positive", "steps": [], "after": {}}]
    verdicts, seconds, reasons = replay_verdicts("miniwob", pairs, frozenset(), log=lambda _: None)
    assert verdicts == [None] and seconds == [] and reasons[0].startswith("cannot replay")
    earlier = tmp_path / "result.json"
    earlier.write_text(json.dumps({"replay": {"sql": {"verdicts": {"x/positive": True}, "seconds_per_example": 0.5}}}))
    got, per, why = earlier_replay(earlier, "sql", [*pairs, {"id": "y/prefix"}])
    assert got == [True, None] and per == [0.5] and why[1] == "not replayed by the earlier run"
