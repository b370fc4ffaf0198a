"""The desktop environment (LibreOffice Calc under Xvfb, the AT-SPI tree): what an episode costs.

- start: a desktop (Xvfb, openbox, session bus, the worker) without the application;
- reset: the application stopped, its profile and the task's document restored, Calc started on it, the window
  laid out and observed (goal: ≤ 3 s), with its parts (restore, launch to window, observation);
- step latency (goal: ≤ 1 s): one action + the tree + a screenshot, per kind of action;
- tree size: characters and elements of the observation (sheet, an open menu, a dialog);
- memory per worker: resident memory of every process of one desktop (Xvfb, bus, openbox, accessibility bus,
  worker, soffice.bin), summed.

    .venv/bin/python bench/desktop_env.py            # ~1-2 min on 2 cores
    .venv/bin/python bench/desktop_env.py --n 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, percentile, table, write_result  # noqa: E402

from lbi.envs.desktop.env import DesktopEnv  # noqa: E402
from lbi.envs.desktop.session import DesktopSession  # noqa: E402
from lbi.envs.tasks import Task  # noqa: E402

RESET_GOAL_S, STEP_GOAL_S = 3.0, 1.0


def _task() -> Task:
    return Task(
        id="bench",
        env="desktop",
        instruction="bench",
        start={"document": "grades.xlsx"},
        check={"kind": "answer", "params": {"expected": "x"}},
    )


def group_rss_mb(pgid: int) -> dict[str, float]:
    """Resident memory (MB) of the processes of a process group, by program name."""
    out: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            status = (entry / "status").read_text()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if int(fields[2]) != pgid:
            continue
        rss = next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmRSS:")), 0.0)
        out[name] = out.get(name, 0.0) + rss
    return out


def row(name: str, seconds: list[float], goal: float | None = None, **extra: Any) -> dict[str, Any]:
    p50 = statistics.median(seconds)
    return {
        "what": name,
        "n": len(seconds),
        "p50 ms": 1000 * p50,
        "p95 ms": 1000 * percentile(seconds, 0.95),
        "max ms": 1000 * max(seconds),
        "goal": f"≤ {goal:g} s: {'met' if p50 <= goal else 'MISSED'}" if goal else "",
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5, help="repetitions of each measurement")
    args = parser.parse_args()
    before = machine()
    started = time.perf_counter()
    session = DesktopSession().start()
    start_s = time.perf_counter() - started
    rows: list[dict[str, Any]] = [row("start desktop (Xvfb, openbox, bus, worker)", [start_s])]
    sizes: list[dict[str, Any]] = []
    shots = Path(session.run_dir) / "shots"
    env = DesktopEnv(session=session, screenshot_dir=shots)
    try:
        looks: list[int] = []
        resets: list[float] = []
        parts: dict[str, list[float]] = {"stop_s": [], "restore_s": [], "launch_s": [], "observe_s": []}
        for _ in range(args.n):
            obs = env.reset(_task())
            resets.append(obs.info["latency_s"])
            for key in parts:
                parts[key].append(obs.info[key])
            looks.append(obs.info["layout_looks"])
        rows.append(row("reset (stop, restore, launch, until the layout holds)", resets, RESET_GOAL_S))
        rows += [row(f"  reset: {k.removesuffix('_s')}", v) for k, v in parts.items()]
        rows.append(
            {
                "what": "  reset: observations until the layout held",
                "n": len(looks),
                "p50 ms": statistics.median(looks),
                "max ms": max(looks),
                "goal": "(a count, not ms)",
            }
        )
        sizes.append({"observation": "sheet after reset", "chars": len(obs.text), "elements": obs.info["n_elements"]})
        assert session.proc is not None  # the session is running
        memory = group_rss_mb(session.proc.pid)

        menu = next(eid for eid, n in env.view.elements.items() if n["role"] == "menu" and n["name"] == "Format")
        kinds = {
            "click(cell)": ["click('C4')"],
            "type(text + enter)": ["type('42\\n')"],
            "hotkey(ctrl+home)": ["hotkey('ctrl+home')"],
            "scroll(table, 3) + back": ["scroll('{table}', 3)", "scroll('{table}', -3)"],
            "click(menu) + escape": [f"click('{menu}')", "hotkey('escape')"],
            "hotkey(ctrl+minus) dialog + escape": ["hotkey('ctrl+minus')", "hotkey('escape')"],
        }
        table_id = next(eid for eid, n in env.view.elements.items() if n["role"] == "table")
        steps_all: list[float] = []
        observe: list[float] = []
        for label, actions in kinds.items():
            seconds = []
            for _ in range(args.n):
                for action in actions:
                    obs = env.step(action.format(table=table_id))
                    assert not obs.last_action_error and not obs.done, (action, obs.last_action_error)
                    seconds.append(obs.info["latency_s"])
                    observe.append(obs.info["observe_s"])
                    if label.startswith("click(menu)") and action.startswith("click"):
                        sizes.append(
                            {
                                "observation": "an open menu (Format)",
                                "chars": len(obs.text),
                                "elements": obs.info["n_elements"],
                            }
                        )
                    if "dialog" in label and action.startswith("hotkey('ctrl"):
                        sizes.append(
                            {
                                "observation": "a dialog (Delete Cells)",
                                "chars": len(obs.text),
                                "elements": obs.info["n_elements"],
                            }
                        )
            steps_all += seconds
            rows.append(row(f"step: {label}", seconds, STEP_GOAL_S))
        rows.append(row("step: all kinds", steps_all, STEP_GOAL_S))
        rows.append(row("  step: tree + screenshot (observe)", observe))
    finally:
        env.close()
        session.close()
    print(table(rows, title="desktop env (LibreOffice Calc), seconds as measured"))
    print(
        table(
            sorted({(s["observation"]): s for s in sizes}.values(), key=lambda s: s["chars"]), title="observation size"
        )
    )
    mem_rows = [{"process": k, "RSS MB": v} for k, v in sorted(memory.items(), key=lambda kv: -kv[1])]
    mem_rows.append({"process": "total per worker", "RSS MB": sum(memory.values())})
    print(table(mem_rows, title="memory of one desktop worker"))
    path = write_result(
        "desktop_env",
        {
            "rows": rows,
            "sizes": sizes,
            "memory_mb": memory,
            "memory_total_mb": sum(memory.values()),
            "loadavg_before": before["loadavg"],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
