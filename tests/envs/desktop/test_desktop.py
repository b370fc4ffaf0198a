"""The desktop environment on the real LibreOffice Calc: what the observation holds, element ids, actions, and
bad input (a stale id, an unknown key, a point off the screen, a blocking dialog, a crashed or hung application)
reported without ending the run; nothing left behind after ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from lbi.envs.desktop.env import DesktopEnv, normalize_keys
from lbi.envs.desktop.view import element_id, render
from lbi.envs.tasks import Task

pytestmark = pytest.mark.desktop  # starts it in the tests' own bodies (tests/tiers.py)

ROOT = Path(__file__).resolve().parents[3]


def _task(document: str = "grades.xlsx") -> Task:
    return Task(
        id="probe",
        env="desktop",
        instruction="look",
        start={"document": document},
        check={"kind": "answer", "params": {"expected": "x"}},
    )


def test_ids_are_stable_and_cells_go_by_address() -> None:
    node = {
        "path": "frame/tool bar:Standard/push button:Save",
        "role": "push button",
        "name": "Save",
        "states": [],
        "box": [1, 2, 3, 4],
        "depth": 1,
    }
    cell = {**node, "path": "frame/table/cell:B5", "role": "table cell", "name": "B5", "text": "42", "cell": "B5"}
    assert element_id(node) == element_id(dict(node)) and element_id(node)[0].isdigit() and len(element_id(node)) == 5
    assert element_id(cell) == "B5"
    view = render(
        {"nodes": [node, cell, {**node, "depth": 0, "path": "dialog:Rename", "role": "dialog", "name": "Rename"}]}
    )
    assert f'[{element_id(node)}] push button "Save"' in view.text and '[B5] cell "42"' in view.text
    assert view.dialogs == ["Rename"]
    assert normalize_keys("Ctrl+Shift+S") == ["ctrl", "shift", "s"] and normalize_keys("enter") == ["Return"]
    assert normalize_keys("pagedown") == ["Next"] and normalize_keys("f2") == ["F2"]


def test_observation_actions_and_bad_input(desktop_env: DesktopEnv) -> None:
    env = desktop_env
    obs = env.reset(_task())
    assert obs.title == "grades.xlsx - LibreOffice Calc" and obs.state_signature == "desktop:calc:frame"
    assert '[A2] cell "Alice"' in obs.text and 'push button "Save"' in obs.text and "visible=A1:" in obs.text
    assert 'menu item "Save As..."' not in obs.text  # only what is showing: the File menu is closed
    assert obs.screenshot and Path(obs.screenshot).stat().st_size > 10_000
    menu = next(eid for eid, n in env.view.elements.items() if n["role"] == "menu" and n["name"] == "File")
    opened = env.step(f"click('{menu}')")
    assert 'menu item "Save As..."' in opened.text and "menu:File" in opened.state_signature
    assert Path(opened.info["action_screenshot"]).exists()  # the previous screenshot, the File menu boxed
    closed = env.step("hotkey('escape')")
    assert 'menu item "Save As..."' not in closed.text

    stale = env.step("click('9zzzz')")
    assert "no element with id '9zzzz'" in (stale.last_action_error or "") and not stale.done
    assert "unknown key name" in (env.step("hotkey('ctrl+nosuchkey')").last_action_error or "")
    assert "off the screen" in (env.step("click_xy(5000, 10)").last_action_error or "")

    env.step("click('E1')")  # an empty cell is not listed but can be clicked by its address
    typed = env.step("type('7\\n')")
    assert '[E1] cell "7"' in typed.text and typed.last_action_error is None

    dialog = env.step("hotkey('ctrl+minus')")  # Delete Cells: a modal dialog over the sheet
    assert dialog.text.startswith("(a dialog is open: Delete Cells)") and not dialog.done
    assert 'radio button "Delete entire row(s)"' in dialog.text
    back = env.step("hotkey('escape')")
    assert "a dialog is open" not in back.text and not back.done


def test_a_crashed_or_hung_application_ends_the_episode_and_reset_recovers(desktop_env: DesktopEnv) -> None:
    env = desktop_env
    env.reset(_task())
    assert env.session is not None
    pid = env.session.request("status")["pid"]
    os.kill(pid, signal.SIGKILL)
    crashed = env.step("click('A1')")
    assert crashed.done and "calc exited" in crashed.info["crashed"]
    assert env.step("noop()").done  # the episode stays over

    obs = env.reset(_task())
    assert '[A2] cell "Alice"' in obs.text
    pid = env.session.request("status")["pid"]
    os.kill(pid, signal.SIGSTOP)  # hung: alive, answering nothing
    hung = env.step("click('A1')")
    assert hung.done and "stopped responding" in hung.info["crashed"]
    assert env.session.request("status")["running"] is False
    assert '[A2] cell "Alice"' in env.reset(_task()).text


def _group(pgid: int) -> list[str]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
    return out


def test_kill_9_leaves_no_xvfb_or_soffice_nor_files() -> None:
    script = textwrap.dedent("""
        import sys, time
        from lbi.envs.desktop.env import DesktopEnv
        env = DesktopEnv(document="blank.xlsx")
        env.reset()
        print(env.session.proc.pid, env.session.run_dir, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    pid, run_dir = proc.stdout.readline().split()
    pgid = int(pid)
    assert Path(run_dir, "calc-profile").is_dir() and any(Path(run_dir).glob("work-*/blank.xlsx"))
    running = _group(pgid)
    assert any("Xvfb" in c for c in running) and any("soffice.bin" in c for c in running), running
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 20
    while _group(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _group(pgid) == []
    deadline = time.monotonic() + 10
    while Path(run_dir).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Path(run_dir).exists()  # the desktop's folder (profile, the episode's documents) is gone too


def test_parallel_envs_have_their_own_display_and_application() -> None:
    with DesktopEnv(document="grades.xlsx") as one, DesktopEnv(document="grades.xlsx") as two:
        one.reset()
        two.reset()
        assert one.session and two.session and one.session.display != two.session.display
        one.step("click('A2')")
        typed = one.step("type('Zoe\\n')")
        assert '[A2] cell "Zoe"' in typed.text
        assert '[A2] cell "Alice"' in two.step("noop()").text
