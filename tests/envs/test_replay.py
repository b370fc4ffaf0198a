"""Replay on a real SQLite database: every step's effect read from the env's evidence, a recorded span that comes
out the same (or not), and what cannot be replayed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from lbi.envs.changes import diff_functions, enclosing, sheet_cells
from lbi.envs.replay import ReplayError, cannot_replay, replay, reproduces, same_text
from lbi.envs.sql import SqlEnv
from lbi.envs.tasks import CheckSpec, Task

NONE = CheckSpec(kind="none")


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        conn.executemany("INSERT INTO items (name, price) VALUES (?, ?)", [("pen", 1.5), ("ink", 4.0)])
    conn.close()
    return db


def test_each_step_keeps_what_it_changed_showed_and_answered(shop: Path) -> None:
    task = Task(id="w", env="sql", instruction="", start={"writable": True}, check=NONE)
    actions = [
        "execute_sql(\"UPDATE items SET price = 2.0 WHERE name = 'pen'\")",
        "execute_sql(\"INSERT INTO items (name, price) VALUES ('cap', 0.5)\")",
        "execute_sql('SELECT name FROM items ORDER BY name')",
        "execute_sql('SELECT nope')",
        "stop('cap, ink, pen')",
    ]
    with SqlEnv(shop) as env:
        rep = replay(env, task, actions)
    update, insert, select, bad, stop = rep.steps
    assert update.effect.rows == ["~items(id=1): price: 1.5 -> 2.0"] and update.effect.wrote
    assert insert.effect.rows == ["+items(id=3, name=cap, price=0.5)"]
    assert not select.effect.wrote and {"cap", "ink", "pen"} <= set(select.effect.new_lines)
    assert bad.error and "no such column" in bad.error and not bad.effect.rows
    assert stop.effect.answer == "cap, ink, pen" and rep.done and rep.answer == "cap, ink, pen"
    assert update.observation.startswith("Connected to SQLite database shop.db (writable).")
    with sqlite3.connect(shop) as conn:  # the source database is never touched
        assert conn.execute("SELECT price FROM items WHERE name = 'pen'").fetchone() == (1.5,)


def test_effects_are_read_only_from_the_span_not_its_prefix(shop: Path) -> None:
    task = Task(id="w", env="sql", instruction="", start={"writable": True}, check=NONE)
    with SqlEnv(shop) as env:
        rep = replay(
            env,
            task,
            ["execute_sql(\"DELETE FROM items WHERE name = 'ink'\")", "execute_sql('SELECT COUNT(*) FROM items')"],
            effects_from=1,
        )
    assert rep.steps[0].effect.rows == [] and rep.steps[1].effect.new_lines[-2:] == ["1", "(1 row)"]


def _record(rep_steps: list, final: str) -> tuple[list[dict], dict]:
    steps = [{"observation": s.observation, "action": s.action, "url": s.url, "error": s.error} for s in rep_steps]
    return steps, {"observation": final, "url": None, "answer": None}


def test_a_recorded_span_reproduces_and_a_doctored_one_does_not(shop: Path) -> None:
    task = Task(id="r", env="sql", instruction="", check=NONE)
    actions = ["execute_sql('SELECT name FROM items')", "execute_sql('SELECT price FROM items')"]
    with SqlEnv(shop) as env:
        first = replay(env, task, actions)
        again = replay(env, task, actions)
    steps, after = _record(first.steps, first.final)
    assert reproduces(steps, again, 0, 1, after).same
    assert reproduces(steps, again, 1, 1, after).same  # a span in the middle: its prefix restores its start
    lucky = {**after, "observation": "price\n---\n42.0\n(1 row)"}  # an end state the actions do not give
    assert "end state" in reproduces(steps, again, 0, 1, lucky).reason
    errored = [steps[0], {**steps[1], "error": "database is locked"}]
    assert "step 1" in reproduces(errored, again, 1, 1, after).reason
    moved = [{**steps[0], "observation": "Connected to another database"}, steps[1]]
    assert "start state" in reproduces(moved, again, 0, 1, after).reason
    assert not reproduces(steps, again, 0, 5, after).same  # more steps than the replay has


def test_times_and_dates_do_not_make_two_states_differ() -> None:
    assert same_text(
        "Ticket #21 opened 3 minutes ago\nat 2025-01-02 10:11:12",
        "Ticket #21 opened 1 second ago\nat 2025-06-07 08:09:10",
    )
    assert not same_text("Ticket #21 (new)\nOwner: bob", "Ticket #22 (new)\nOwner: carol")


def test_what_cannot_be_replayed_is_refused_with_the_reason(shop: Path) -> None:
    seeded = Task(id="click-button", env="sql", instruction="", check=NONE, goal_at_reset=True)
    with SqlEnv(shop) as env:
        assert "random seed" in (cannot_replay(env, seeded) or "")
        with pytest.raises(ReplayError, match="random seed"):
            replay(env, seeded, ["execute_sql('SELECT 1')"])

    class LiveSite(SqlEnv):
        deterministic_reset = False  # e.g. a site on the internet: its state moves on its own

    with LiveSite(shop) as live:
        assert "not deterministic" in (cannot_replay(live, None) or "")


def test_the_functions_around_a_diffs_hunks(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "v.py").write_text(
        'class Version:\n    def bump(self):\n        """Bump.\n\nA docstring line at column 0.\n"""\n'
        "        x = 1\n        return x + 1\n\n"
        "    def other(self):\n        if True:\n            return 3\n\n\ndef helper():\n    return 4\n"
    )
    patch = (
        "diff --git a/pkg/v.py b/pkg/v.py\n--- a/pkg/v.py\n+++ b/pkg/v.py\n@@ -5,3 +5,3 @@ class Version:\n"
        '"""\n         x = 1\n-        return x\n+        return x + 1\n'
        "@@ -10,2 +10,2 @@\n         if True:\n-            return 2\n+            return 3\n"
        "@@ -14,2 +14,2 @@\n def helper():\n-    return 5\n+    return 4\n"
    )
    assert diff_functions(patch, tmp_path) == ["Version.bump", "Version.other", "helper"]
    assert enclosing(["def f(", "    x):", '    """Doc', "at column 0", '"""', "    return x"], 3) == "f"


def test_saved_cells_are_read_with_formulas_values_and_bold(tmp_path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Grades"
    sheet["A1"], sheet["B1"], sheet["B2"] = "Name", 3, "=B1*2"
    sheet["A1"].font = Font(bold=True)
    book.save(tmp_path / "g.xlsx")
    cells = sheet_cells(tmp_path / "g.xlsx")
    assert cells["g.xlsx sheets"] == "Grades" and cells["g.xlsx Grades!A1"] == "Name (bold)"
    assert cells["g.xlsx Grades!B2"].startswith("=B1*2 = ")  # openpyxl saves no computed value: LibreOffice does
