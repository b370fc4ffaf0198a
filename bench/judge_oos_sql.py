"""A held-out check of the judges that need no model on SQL: a database and tasks no judge was tuned on.

    .venv/bin/python bench/judge_oos_sql.py                 # the held-out set (clinic): builds everything under
                                                            # bench/results/oos_sql_clinic/, prints the figures,
                                                            # writes bench/results/judge_oos_sql_clinic.json
    .venv/bin/python bench/judge_oos_sql.py --set library   # the library set (tuned on), with its errors

The sets are data, one module each under `bench/oos_sets/` (a `SqlSet`: a SQLite schema and rows, questions and
writes with their reference solutions); this script is the machinery, the same for every set:

* `clinic` (the default; **held out**): a veterinary clinic, 5 tables (owners, vets, pets, visits, prescriptions)
  and 30 tasks (25 questions, 5 writes);
* `library`: a lending library, 4 tables (authors, books, members, loans) and 25 tasks (21 questions, 4 writes).
  **Tuned on from session 12**: the grounding rule's SQL readings were written from its errors (`5e69bdb`,
  `d93ee5d`: 89% / 55% held out → 100% / 93% tuned on), so its figures no longer measure data nobody tuned on.

What it measures: how the rule judges (`overlap`, the old one-word rule; `grounding` on the recorded steps, the
default committee's; `grounding+replay` on the effects a replay reads; `replay`; `rules`, grounding+replay and replay
together) do on SQL data outside the shipped set `data/judge_bench/`, whose pairs the grounding rule was developed
looking at (100% / 100% there). For the set chosen with `--set` it builds the database and the tasks, each with a
reference solution and a success check in lbi's task format; makes a project on them through lbi's API
(`init_project`, `import_tasks`: what `lbi init --env sql -o db=...` and `lbi tasks import` do); builds the labelled
pairs with `judge_set.build_project` (positives, and another task's span, one step on another value, the instruction
with one entity changed as negatives, each labelled by a task's check); and scores the judges with
`judge_quality`'s functions: precision, recall and accuracy with Wilson 95% intervals on all pairs and on the
positives with each kind of negative. Every error with its reason goes into the result file; it is printed only for
a set that is tuned on already (or with `--show-errors`, which makes the set tuned on).

THE RULE: the default set (`clinic`) is a held-out check. Never tune `lbi.synth.grounding` (or any judge) on it: do
not read its errors to write a reader, and do not change a setting because it moves this figure. Its figure says how
a judge does on data nobody tuned it on only as long as nobody has. Whoever tunes on it must write a new held-out set
(another database, other questions, written without reading the judge's errors: a module under `bench/oos_sets/`,
made the default), set the old one's `tuned_on`, keep its figures as "tuned on", and say so in bench/README.md.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, table, write_result  # noqa: E402
from judge_quality import figure, quality, recorded, replay_verdicts, rule_verdicts  # noqa: E402
from judge_set import KINDS, build_project, load_pairs, write_set  # noqa: E402
from oos_sets import NAMES, SqlSet, load  # noqa: E402

from lbi.config import Config  # noqa: E402
from lbi.envs import env_spec  # noqa: E402
from lbi.envs.tasks import CheckSpec, Task  # noqa: E402
from lbi.synth import grounding  # noqa: E402

ENV = "sql"
JUDGES = ("overlap", "grounding", "grounding+replay", "replay", "rules")
EXPLAINED = ("grounding", "grounding+replay")
"""The judges whose errors are listed with the rule's reason (the replay judge's come with its own)."""


# -- the tasks ----------------------------------------------------------------------------------------------------
def build_tasks(oos: SqlSet, db: Path) -> list[Task]:
    """The set's tasks (`<prefix>-001`..: its questions, then its writes) on its database at `db` (read for the
    expected answers)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tasks: list[Task] = []
        for instruction, query, answer, match, difficulty in oos.questions:
            result = {"kind": "sql_result", "params": {"query": query, "ordered": False}}
            if answer is None:
                check, reference = result, [f"execute_sql({query!r})"]
            else:
                value = conn.execute(query).fetchone()[0]
                expected = str(value) if answer is True else str(answer) % value
                check = {
                    "kind": "any",
                    "params": {
                        "checks": [result, {"kind": "answer", "params": {"expected": expected, "match": match}}]
                    },
                }
                reference = [f"execute_sql({query!r})", f"stop({expected!r})"]
            tasks.append(_task(oos.prefix, len(tasks) + 1, instruction, check, reference, difficulty))
        for instruction, statement, query, rows in oos.writes:
            check = {"kind": "db_query", "params": {"query": query, "expected": rows}}
            reference = [f"execute_sql({statement!r})", "stop('done')"]
            more: dict[str, Any] = {"start": {"writable": True}, "tags": ["write"]}
            tasks.append(_task(oos.prefix, len(tasks) + 1, instruction, check, reference, "medium", **more))
        return tasks
    finally:
        conn.close()


def _task(
    prefix: str,
    number: int,
    instruction: str,
    check: dict[str, Any],
    reference: list[str],
    difficulty: str,
    **more: Any,
) -> Task:
    return Task(
        id=f"{prefix}-{number:03d}",
        env=ENV,
        instruction=instruction,
        check=CheckSpec.model_validate(check),
        reference=reference,
        difficulty=difficulty,
        split="heldout",
        **more,
    )


def make_project(oos: SqlSet, out: Path) -> Path:
    """`out`/<set>.db, `out`/tasks.jsonl and the project `out`/proj on them (each made again), as a user makes one:
    `lbi init proj --env sql -o db=<set>.db` and `lbi tasks import tasks.jsonl -p proj`, through lbi's API."""
    from lbi.docs.ingest import import_tasks
    from lbi.project import init_project

    out.mkdir(parents=True, exist_ok=True)
    db = oos.build_db(out / f"{oos.name}.db")
    tasks = out / "tasks.jsonl"
    tasks.write_text(
        "".join(t.model_dump_json(exclude_defaults=True) + "\n" for t in build_tasks(oos, db)), encoding="utf-8"
    )
    directory = out / "proj"
    shutil.rmtree(directory, ignore_errors=True)
    config = Config(project=directory.name)
    config.env.name, config.env.options = ENV, env_spec(ENV).parse_strings([f"db={db.resolve()}"])
    import_tasks(init_project(directory, config), tasks)
    return directory


# -- scoring ------------------------------------------------------------------------------------------------------
def score(pairs: Sequence[dict[str, Any]], verdicts: dict[str, list[bool | None]]) -> list[dict[str, Any]]:
    """Each judge on all pairs and on the positives with each kind of negative: counts, rates, Wilson intervals."""
    positives = [k for k, p in enumerate(pairs) if p["label"]]
    subsets = {"all": list(range(len(pairs)))}
    for kind in KINDS[1:]:
        negatives = [k for k, p in enumerate(pairs) if not p["label"] and p["kind"] == kind]
        if negatives:
            subsets[f"positive + {kind}"] = positives + negatives
    rows = []
    for judge, got in verdicts.items():
        for subset, idx in subsets.items():
            q, left_out = quality([pairs[k]["label"] for k in idx], [got[k] for k in idx])
            numbers = figure(judge, ENV, "all", q, left_out, [ENV]).model_dump(exclude={"env", "split", "envs"})
            bad = q.fp + q.tn
            rows.append(
                {
                    "judge": judge,
                    "pairs": subset,
                    **q.row(),
                    "negatives kept": f"{q.fp}/{bad}" if bad else "-",
                    "left out": left_out,
                    "figures": numbers,
                }
            )
    return rows


def errors(
    pairs: Sequence[dict[str, Any]], verdicts: dict[str, list[bool | None]], replay_reasons: Sequence[str]
) -> list[dict[str, Any]]:
    """Every pair a rule judge (`EXPLAINED`) got wrong, with the rule's reason; and every good pair the replay judge
    dropped (its "yes" on a bad pair is no error of its own: a span that reproduces can still be mislabelled)."""
    out = []
    for judge in (*EXPLAINED, "replay"):
        for k, (pair, verdict) in enumerate(zip(pairs, verdicts.get(judge, []), strict=False)):
            if verdict is None or verdict == pair["label"] or (judge == "replay" and not pair["label"]):
                continue
            if judge == "replay":
                reason = replay_reasons[k]
            else:
                steps = recorded(pair["steps"]) if judge == "grounding" else pair["steps"]
                reason = grounding.judge(pair["instruction"], steps, after=pair["after"]).reason
            out.append(
                {
                    "judge": judge,
                    "id": pair["id"],
                    "kind": pair["kind"],
                    "label": pair["label"],
                    "instruction": pair["instruction"],
                    "actions": pair["actions"],
                    "answer": pair["after"].get("answer"),
                    "reason": reason,
                }
            )
    return out


def show_errors(wrong: Sequence[dict[str, Any]]) -> None:
    """Each wrongly judged pair once, with the judges that got it wrong (and each one's reason where they differ)."""
    by_pair: dict[str, list[dict[str, Any]]] = {}
    for e in wrong:
        by_pair.setdefault(e["id"], []).append(e)
    print(
        f"errors: {len(by_pair)} pairs ({', '.join(f'{j} {n}' for j, n in Counter(e['judge'] for e in wrong).items())})"
    )
    for mine in by_pair.values():
        first = mine[0]
        reasons = dict.fromkeys(e["reason"] for e in mine)
        print(
            f"  {'good' if first['label'] else 'bad '} {first['kind']:17} {first['id']}: {first['instruction']}\n"
            f"      {' / '.join(e['judge'] for e in mine)}: {' | '.join(r[:200] for r in reasons)}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default=NAMES[0], choices=NAMES, help="the set (default: %(default)s, held out)")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the database, tasks, project and set are made (default: bench/results/oos_sql_<set>/)",
    )
    parser.add_argument("--no-replay", action="store_true", help="leave the replay judge (and `rules`) out")
    parser.add_argument("--name", help="the result file's name under bench/results/ (default: judge_oos_sql_<set>)")
    parser.add_argument(
        "--show-errors", action="store_true", help="print the errors of a held-out set too (then it is tuned on)"
    )
    args = parser.parse_args()
    oos = load(args.set)
    args.out = args.out or RESULTS / f"oos_sql_{oos.name}"
    args.name = args.name or f"judge_oos_sql_{oos.name}"
    project = make_project(oos, args.out)
    print(f"{project}: replaying the held-out references on {args.out / f'{oos.name}.db'}", flush=True)
    built = build_project(project, log=lambda line: None)
    (args.out / "set").mkdir(exist_ok=True)
    path = write_set(args.out / "set" / f"{ENV}.jsonl", built)
    skipped = Counter(s["kind"] for s in built["skipped"])
    print(f"  skipped (as judge_set.py skips them; listed in the result): {dict(skipped)}")
    pairs = load_pairs(path)
    verdicts: dict[str, list[bool | None]] = {k: list(v) for k, v in rule_verdicts(pairs).items()}
    reasons: list[str] = [""] * len(pairs)
    seconds: list[float] = []
    if not args.no_replay:
        chrome = frozenset(built["pages"].get("_chrome", []))
        verdicts["replay"], seconds, reasons = replay_verdicts(
            ENV, pairs, chrome, log=lambda line: None, project=project
        )
        verdicts["rules"] = [
            None if r is None else bool(g and r)
            for g, r in zip(verdicts["grounding+replay"], verdicts["replay"], strict=True)
        ]
    kinds = Counter((p["kind"], p["label"]) for p in pairs)
    print(
        f"{built['tasks']} tasks, {len(pairs)} pairs: "
        + ", ".join(f"{k} {'good' if lab else 'bad'} {n}" for (k, lab), n in sorted(kinds.items()))
    )
    rows = score(pairs, verdicts)
    columns = ["judge", "pairs", "n", "precision", "recall", "accuracy", "negatives kept", "left out"]
    status = f"tuned on from {oos.tuned_on}" if oos.tuned_on else "held out"
    print(table(rows, columns, title=f"{oos.name} db, {status} ('yes' = kept; Wilson 95%)"))
    wrong = errors(pairs, verdicts, reasons)
    if oos.tuned_on or args.show_errors:
        show_errors(wrong)
    else:
        print(f"errors: {len(wrong)} verdicts, not shown: the set is held out (THE RULE; --show-errors tunes on it)")
    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "set": oos.name,
        "tuned_on": oos.tuned_on,
        "tasks": built["tasks"],
        "pairs": len(pairs),
        "kinds": {f"{k}/{'positive' if lab else 'negative'}": n for (k, lab), n in sorted(kinds.items())},
        "skipped": built["skipped"],
        "replay_seconds_per_example": sum(seconds) / len(seconds) if seconds else None,
        "rows": rows,
        "errors": wrong,
    }
    print("result:", write_result(args.name, result))


if __name__ == "__main__":
    main()
