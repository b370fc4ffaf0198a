"""A held-out check of the judges that need no model on SQL: a lending-library database and 25 tasks that no judge
was tuned on.

    .venv/bin/python bench/judge_oos_sql.py          # builds everything under bench/results/oos_sql/, prints, writes
                                                     # bench/results/judge_oos_sql.json

What it measures: how the rule judges (`overlap`, the old one-word rule; `grounding` on the recorded steps, the
default committee's; `grounding+replay` on the effects a replay reads; `replay`; `rules`, grounding+replay and replay
together) do on SQL data outside the shipped set `data/judge_bench/`, whose pairs the grounding rule was developed
looking at (100% / 100% there). It builds a 4-table SQLite database (authors, books, members, loans) and 25 held-out
tasks on it (21 questions, 4 writes), each with a reference solution and a success check in lbi's task format; makes
a project on them through lbi's API (`init_project`, `import_tasks`: what `lbi init --env sql -o db=...` and
`lbi tasks import` do); builds the labelled pairs with `judge_set.build_project` (positives, and another task's
span, one step on another value, the instruction with one entity changed as negatives, each labelled by a task's
check); and scores the judges with `judge_quality`'s functions: precision, recall and accuracy with Wilson 95%
intervals on all pairs and on the positives with each kind of negative, and every error with its reason.

THE RULE: this is a held-out check. Never tune `lbi.synth.grounding` (or any judge) on it: do not read its errors
to write a reader, and do not change a setting because it moves this figure. Its figure says how a judge does on
data nobody tuned it on only as long as nobody has. Whoever tunes on it must write a new held-out set (another
database, other questions, written without reading the judge's errors), keep this one's figures as "tuned on",
and say so in bench/README.md.
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

from lbi.config import Config  # noqa: E402
from lbi.envs import env_spec  # noqa: E402
from lbi.envs.tasks import CheckSpec, Task  # noqa: E402
from lbi.synth import grounding  # noqa: E402

OUT = RESULTS / "oos_sql"
ENV = "sql"
JUDGES = ("overlap", "grounding", "grounding+replay", "replay", "rules")
EXPLAINED = ("grounding", "grounding+replay")
"""The judges whose errors are listed with the rule's reason (the replay judge's come with its own)."""

# -- the database -------------------------------------------------------------------------------------------------
SCHEMA = """
CREATE TABLE authors (author_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, country TEXT, birth_year INTEGER);
CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER REFERENCES authors(author_id),
  genre TEXT, published_year INTEGER, copies INTEGER NOT NULL DEFAULT 1);
CREATE TABLE members (member_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, joined DATE,
  tier TEXT DEFAULT 'standard');
CREATE TABLE loans (loan_id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES books(book_id),
  member_id INTEGER REFERENCES members(member_id), loaned_on DATE, due_on DATE, returned_on DATE,
  fine_cents INTEGER DEFAULT 0);
"""
AUTHORS = [
    (1, "Ursula K. Le Guin", "USA", 1929),
    (2, "Chinua Achebe", "Nigeria", 1930),
    (3, "Haruki Murakami", "Japan", 1949),
    (4, "Margaret Atwood", "Canada", 1939),
    (5, "Gabriel García Márquez", "Colombia", 1927),
    (6, "Toni Morrison", "USA", 1931),
    (7, "Kazuo Ishiguro", "UK", 1954),
    (8, "Olga Tokarczuk", "Poland", 1962),
]
BOOKS = [
    (1, "A Wizard of Earthsea", 1, "fantasy", 1968, 3),
    (2, "The Left Hand of Darkness", 1, "science fiction", 1969, 2),
    (3, "The Dispossessed", 1, "science fiction", 1974, 1),
    (4, "Things Fall Apart", 2, "literary", 1958, 4),
    (5, "Arrow of God", 2, "literary", 1964, 1),
    (6, "Norwegian Wood", 3, "literary", 1987, 2),
    (7, "Kafka on the Shore", 3, "fantasy", 2002, 2),
    (8, "The Handmaid's Tale", 4, "dystopian", 1985, 3),
    (9, "Oryx and Crake", 4, "dystopian", 2003, 1),
    (10, "One Hundred Years of Solitude", 5, "literary", 1967, 2),
    (11, "Beloved", 6, "literary", 1987, 2),
    (12, "Song of Solomon", 6, "literary", 1977, 1),
    (13, "Never Let Me Go", 7, "science fiction", 2005, 2),
    (14, "The Remains of the Day", 7, "literary", 1989, 1),
    (15, "Flights", 8, "literary", 2007, 1),
    (16, "Drive Your Plow Over the Bones of the Dead", 8, "mystery", 2009, 1),
]
MEMBERS = [
    (1, "Alice Moreau", "alice@example.org", "2021-03-14", "premium"),
    (2, "Ben Okafor", "ben@example.org", "2022-07-01", "standard"),
    (3, "Chen Wei", "chen@example.org", "2020-11-23", "standard"),
    (4, "Dana Kowalski", "dana@example.org", "2023-01-09", "premium"),
    (5, "Elif Demir", None, "2023-05-30", "standard"),
    (6, "Farid Haddad", "farid@example.org", "2019-09-02", "student"),
    (7, "Grace Lindqvist", "grace@example.org", "2024-02-18", "student"),
    (8, "Hiro Tanaka", "hiro@example.org", "2024-06-11", "standard"),
    (9, "Ines Carvalho", "ines@example.org", "2022-12-05", "premium"),
    (10, "Jonas Weber", None, "2024-09-27", "standard"),
]
LOANS = [
    (1, 1, 1, "2024-09-01", "2024-09-22", "2024-09-20", 0),
    (2, 4, 2, "2024-09-03", "2024-09-24", "2024-09-30", 150),
    (3, 8, 3, "2024-09-05", "2024-09-26", "2024-09-25", 0),
    (4, 6, 1, "2024-09-10", "2024-10-01", "2024-10-05", 100),
    (5, 13, 4, "2024-09-12", "2024-10-03", None, 0),
    (6, 10, 6, "2024-09-15", "2024-10-06", "2024-10-02", 0),
    (7, 2, 2, "2024-09-20", "2024-10-11", None, 0),
    (8, 11, 9, "2024-09-21", "2024-10-12", "2024-10-12", 0),
    (9, 4, 7, "2024-09-25", "2024-10-16", None, 0),
    (10, 7, 3, "2024-10-01", "2024-10-22", "2024-10-28", 150),
    (11, 16, 8, "2024-10-02", "2024-10-23", None, 0),
    (12, 1, 4, "2024-10-04", "2024-10-25", "2024-10-24", 0),
    (13, 9, 1, "2024-10-07", "2024-10-28", None, 0),
    (14, 14, 6, "2024-10-09", "2024-10-30", "2024-11-04", 250),
    (15, 3, 9, "2024-10-12", "2024-11-02", "2024-11-01", 0),
    (16, 12, 2, "2024-10-15", "2024-11-05", None, 0),
    (17, 5, 3, "2024-10-18", "2024-11-08", "2024-11-06", 0),
    (18, 8, 7, "2024-10-20", "2024-11-10", None, 0),
    (19, 15, 1, "2024-10-22", "2024-11-12", "2024-11-12", 0),
    (20, 6, 9, "2024-10-25", "2024-11-15", None, 0),
    (21, 4, 4, "2024-10-26", "2024-11-16", "2024-11-20", 200),
    (22, 13, 8, "2024-10-28", "2024-11-18", None, 0),
]


def build_db(path: Path) -> Path:
    """The library database at `path` (rewritten)."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.executescript(SCHEMA)
        for name, rows in (("authors", AUTHORS), ("books", BOOKS), ("members", MEMBERS), ("loans", LOANS)):
            conn.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        conn.commit()
    finally:
        conn.close()
    return path


# -- the tasks ----------------------------------------------------------------------------------------------------
# (instruction, query, answer, match, difficulty): the last result must equal the query's, or, with an answer, the
# final answer may match instead (True: the query's single value).
QUESTIONS: list[tuple[str, str, str | bool | None, str, str]] = [
    ("How many members does the library have?", "SELECT COUNT(*) FROM members", True, "number", "easy"),
    (
        "How many books were published before 1970?",
        "SELECT COUNT(*) FROM books WHERE published_year < 1970",
        True,
        "number",
        "easy",
    ),
    (
        "What is the email address of Dana Kowalski?",
        "SELECT email FROM members WHERE name = 'Dana Kowalski'",
        True,
        "exact",
        "easy",
    ),
    ("List the titles of all dystopian books.", "SELECT title FROM books WHERE genre = 'dystopian'", None, "", "easy"),
    (
        "Which country is Chinua Achebe from?",
        "SELECT country FROM authors WHERE full_name = 'Chinua Achebe'",
        True,
        "exact",
        "easy",
    ),
    (
        "Who wrote Never Let Me Go?",
        "SELECT a.full_name FROM books b JOIN authors a ON a.author_id = b.author_id WHERE b.title = 'Never Let Me Go'",
        True,
        "exact",
        "easy",
    ),
    (
        "List the titles of the books by Ursula K. Le Guin.",
        "SELECT b.title FROM books b JOIN authors a ON a.author_id = b.author_id "
        "WHERE a.full_name = 'Ursula K. Le Guin'",
        None,
        "",
        "easy",
    ),
    (
        "Which loans are still out (not yet returned)? Give their loan ids.",
        "SELECT loan_id FROM loans WHERE returned_on IS NULL",
        None,
        "",
        "medium",
    ),
    (
        "How many loans has Alice Moreau taken out?",
        "SELECT COUNT(*) FROM loans l JOIN members m ON m.member_id = l.member_id WHERE m.name = 'Alice Moreau'",
        True,
        "number",
        "medium",
    ),
    (
        "Which members have never borrowed a book?",
        "SELECT name FROM members WHERE member_id NOT IN (SELECT member_id FROM loans)",
        None,
        "",
        "medium",
    ),
    (
        "Which books have never been loaned?",
        "SELECT title FROM books WHERE book_id NOT IN (SELECT book_id FROM loans)",
        None,
        "",
        "medium",
    ),
    (
        "What is the average publication year of the literary books?",
        "SELECT AVG(published_year) FROM books WHERE genre = 'literary'",
        "%.1f",
        "number",
        "medium",
    ),
    (
        "How much have members paid in fines in total, in cents?",
        "SELECT SUM(fine_cents) FROM loans",
        True,
        "number",
        "easy",
    ),
    (
        "Which member has the most loans?",
        "SELECT m.name FROM members m JOIN loans l ON l.member_id = m.member_id GROUP BY m.member_id "
        "ORDER BY COUNT(*) DESC LIMIT 1",
        True,
        "exact",
        "medium",
    ),
    (
        "How many copies of Things Fall Apart does the library hold?",
        "SELECT copies FROM books WHERE title = 'Things Fall Apart'",
        True,
        "number",
        "easy",
    ),
    ("List the members on the student tier.", "SELECT name FROM members WHERE tier = 'student'", None, "", "easy"),
    ("Which members have no email address on file?", "SELECT name FROM members WHERE email IS NULL", None, "", "easy"),
    (
        "How many books does each genre have? Show the genre and the count.",
        "SELECT genre, COUNT(*) FROM books GROUP BY genre",
        None,
        "",
        "medium",
    ),
    (
        "Which loans were returned after their due date? Give the loan ids.",
        "SELECT loan_id FROM loans WHERE returned_on > due_on",
        None,
        "",
        "medium",
    ),
    (
        "Who is the oldest author in the catalogue?",
        "SELECT full_name FROM authors ORDER BY birth_year LIMIT 1",
        True,
        "exact",
        "easy",
    ),
    ("What is the title of book 13?", "SELECT title FROM books WHERE book_id = 13", True, "exact", "easy"),
]
# (instruction, statement, check query, expected rows)
WRITES: list[tuple[str, str, str, list[list[Any]]]] = [
    (
        "Mark loan 7 as returned on 2024-10-10.",
        "UPDATE loans SET returned_on = '2024-10-10' WHERE loan_id = 7",
        "SELECT returned_on FROM loans WHERE loan_id = 7",
        [["2024-10-10"]],
    ),
    (
        "Move Ben Okafor to the premium tier.",
        "UPDATE members SET tier = 'premium' WHERE name = 'Ben Okafor'",
        "SELECT tier FROM members WHERE member_id = 2",
        [["premium"]],
    ),
    (
        "Add a new member named Kofi Mensah with the email kofi@example.org.",
        "INSERT INTO members (name, email, joined) VALUES ('Kofi Mensah', 'kofi@example.org', '2024-11-01')",
        "SELECT email FROM members WHERE name = 'Kofi Mensah'",
        [["kofi@example.org"]],
    ),
    (
        "Charge a fine of 300 cents on loan 14.",
        "UPDATE loans SET fine_cents = 300 WHERE loan_id = 14",
        "SELECT fine_cents FROM loans WHERE loan_id = 14",
        [[300]],
    ),
]


def build_tasks(db: Path) -> list[Task]:
    """The 25 held-out tasks (`lib-001`..) on the library database at `db` (read for the expected answers)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tasks: list[Task] = []
        for instruction, query, answer, match, difficulty in QUESTIONS:
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
            tasks.append(_task(len(tasks) + 1, instruction, check, reference, difficulty))
        for instruction, statement, query, rows in WRITES:
            check = {"kind": "db_query", "params": {"query": query, "expected": rows}}
            reference = [f"execute_sql({statement!r})", "stop('done')"]
            tasks.append(
                _task(len(tasks) + 1, instruction, check, reference, "medium", start={"writable": True}, tags=["write"])
            )
        return tasks
    finally:
        conn.close()


def _task(
    number: int, instruction: str, check: dict[str, Any], reference: list[str], difficulty: str, **more: Any
) -> Task:
    return Task(
        id=f"lib-{number:03d}",
        env=ENV,
        instruction=instruction,
        check=CheckSpec.model_validate(check),
        reference=reference,
        difficulty=difficulty,
        split="heldout",
        **more,
    )


def make_project(out: Path) -> Path:
    """`out`/library.db, `out`/tasks.jsonl and the project `out`/proj on them (each made again), as a user makes
    one: `lbi init proj --env sql -o db=library.db` and `lbi tasks import tasks.jsonl -p proj`, through lbi's API."""
    from lbi.docs.ingest import import_tasks
    from lbi.project import init_project

    out.mkdir(parents=True, exist_ok=True)
    db = build_db(out / "library.db")
    tasks = out / "tasks.jsonl"
    tasks.write_text(
        "".join(t.model_dump_json(exclude_defaults=True) + "\n" for t in build_tasks(db)), encoding="utf-8"
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
    parser.add_argument("--out", type=Path, default=OUT, help="where the database, tasks, project and set are made")
    parser.add_argument("--no-replay", action="store_true", help="leave the replay judge (and `rules`) out")
    parser.add_argument("--name", default="judge_oos_sql", help="the result file's name under bench/results/")
    args = parser.parse_args()
    project = make_project(args.out)
    print(f"{project}: replaying the held-out references on {args.out / 'library.db'}", flush=True)
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
    print(table(rows, columns, title="held-out library db ('yes' = kept; Wilson 95%)"))
    wrong = errors(pairs, verdicts, reasons)
    show_errors(wrong)
    result = {
        "args": {k: str(v) for k, v in vars(args).items()},
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
