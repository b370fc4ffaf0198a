"""The judge benchmark's MiniWoB++ pairs: (goal, episode) from a project's BrowserGym episodes, labelled by the
environment's own reward.

    .venv/bin/python bench/judge_set_miniwob.py --db bench/results/learning_effect/miniwob/lbi.db
                                                    # writes data/judge_bench/miniwob.jsonl (+ .pages.json)

MiniWoB++ tasks have no reference solution lbi could replay, but every episode an lbi project ran on them keeps
the goal BrowserGym gave at reset and the reward its task's `validate` returned (`config_json.reward`). So:

* ``positive``: the goal and the steps of an episode the environment rewarded;
* ``unrewarded``: the goal and the steps of an episode of it the environment did not reward (negative by the
  reward);
* ``other_goal``: the steps of a rewarded episode with the goal of another seed of the same task type whose goal
  text differs other than in case ("Click on the link "vitae"." on a span that clicked "Nunc"; negative by
  construction: the span did what its own goal asked). A goal differing only in case ("Yes" for "yes") is moot
  on a page with one such button and left out.

An episode whose (goal, actions) repeats one already taken is left out (MiniWoB's one-click tasks repeat: the
same pair counted twice would weigh it twice). At most `--per-kind` pairs of each kind per task type, picked by
a hash of the trajectory key (deterministic). The read is read-only (`mode=ro`): the project may be running.
Observations are kept whole, as the store has them (BrowserGym's outline, indented: an element's text is the lines
under it; at most about 1.3 kB on these tasks). Spans cannot be replayed by the bench (BrowserGym's server and
browser are not started here): the replay judge reports them as not replayable, and they carry no replayed effects.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, table  # noqa: E402
from judge_set import OUT, _page  # noqa: E402

ENV = "miniwob"
KINDS = ("positive", "unrewarded", "other_goal")
NO_EFFECT = "none"
"""The page key of a step's effect: the episodes were not replayed, so no step has one (`null`)."""


def episodes(db: Path) -> list[dict[str, Any]]:
    """Every finished BrowserGym episode with a goal and a reward: its task type, seed, goal, reward, answer,
    steps (action, observation, url, error) and the state after its last step."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT id, key, answer, config_json, final_observation, final_url FROM trajectories "
            "WHERE status = 'done' ORDER BY id"
        ).fetchall()
        out = []
        for row in rows:
            config = json.loads(row["config_json"] or "{}")
            if config.get("reward") is None or not config.get("goal") or not config.get("env_task"):
                continue
            steps = [
                dict(s)
                for s in conn.execute(
                    "SELECT action, observation, url, error FROM steps WHERE trajectory_id = ? ORDER BY idx",
                    (row["id"],),
                )
            ]
            if not steps:
                continue
            out.append(
                {
                    "key": row["key"],
                    "type": config["env_task"],
                    "seed": config.get("seed"),
                    "goal": config["goal"],
                    "reward": float(config["reward"]),
                    "answer": row["answer"],
                    "steps": steps,
                    "after": {"observation": row["final_observation"] or "", "url": row["final_url"]},
                }
            )
        return out
    finally:
        conn.close()


def _order(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()


def _record(
    kind: str, goal: str, ep: dict[str, Any], label: bool, detail: str, source: str, of: str, pages: dict[str, Any]
) -> dict[str, Any]:
    task = f"{ep['type']}@{ep['seed']}"
    steps = [
        {
            "action": s["action"],
            "page": _page(s["observation"] or "", pages),
            "url": s["url"],
            "error": s["error"],
            "effect": NO_EFFECT,
        }
        for s in ep["steps"]
    ]
    return {
        "id": f"{task}/{kind}/{ep['key']}" + (f"/{of}" if of else ""),
        "span_of": ep["key"],
        "env": ENV,
        "kind": kind,
        "task": ep["type"],
        "span_task": task,
        "instruction": goal,
        "label": label,
        "label_source": source,
        "detail": detail[:300],
        "start": {"task": ep["type"], "seed": ep["seed"]},
        "actions": [s["action"] for s in ep["steps"]],
        "steps": steps,
        "after": {
            "page": _page(ep["after"]["observation"], pages),
            "url": ep["after"]["url"],
            "answer": ep["answer"],
        },
    }


def build(eps: list[dict[str, Any]], per_kind: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pairs (see the module docstring) and their pages."""
    pages: dict[str, Any] = {"_chrome": [], NO_EFFECT: None}
    pairs: list[dict[str, Any]] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for ep in sorted(eps, key=lambda e: _order(e["key"])):
        sig = (ep["goal"], tuple(s["action"] for s in ep["steps"]))
        if sig in seen:
            continue
        seen.add(sig)
        by_type.setdefault(ep["type"], []).append(ep)
    for mine in by_type.values():
        rewarded = [e for e in mine if e["reward"] > 0]
        failed = [e for e in mine if e["reward"] <= 0]
        for ep in rewarded[:per_kind]:
            pairs.append(_record("positive", ep["goal"], ep, True, f"reward {ep['reward']}", "reward", "", pages))
        for ep in failed[:per_kind]:
            pairs.append(_record("unrewarded", ep["goal"], ep, False, f"reward {ep['reward']}", "reward", "", pages))
        taken: set[tuple[str, tuple[str, ...]]] = set()
        n = 0
        for ep in rewarded:
            if n >= per_kind:
                break
            other = next(
                (
                    o
                    for o in sorted(mine, key=lambda o: _order(ep["key"] + o["key"]))
                    if o["goal"].casefold() != ep["goal"].casefold()
                ),
                None,
            )
            if other is None:
                continue
            sig = (other["goal"], tuple(s["action"] for s in ep["steps"]))
            if sig in taken:
                continue
            taken.add(sig)
            detail = (
                f"the span was rewarded for {ep['goal']!r} (seed {ep['seed']}); this goal is seed {other['seed']}'s"
            )
            pairs.append(_record("other_goal", other["goal"], ep, False, detail, "construction", other["key"], pages))
            n += 1
    return pairs, pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a project's lbi.db with BrowserGym MiniWoB++ episodes")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--per-kind", type=int, default=12, help="at most N pairs of each kind per task type")
    args = parser.parse_args()
    eps = [e for e in episodes(args.db) if e["type"].startswith("miniwob.")]
    pairs, pages = build(eps, args.per_kind)
    path = args.out / f"{ENV}.jsonl"
    path.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs), encoding="utf-8")
    path.with_suffix(".pages.json").write_text(json.dumps(pages, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    kinds = Counter((p["task"], p["kind"]) for p in pairs)
    rows = [
        {"task type": t, "episodes": sum(e["type"] == t for e in eps), **{k: kinds[(t, k)] for k in KINDS}}
        for t in sorted({e["type"] for e in eps})
    ]
    print(table(rows, title=f"MiniWoB++ pairs from {args.db}"))
    size = path.stat().st_size + path.with_suffix(".pages.json").stat().st_size
    print(f"{len(pairs)} pairs, {size / 1000:.0f} kB: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
