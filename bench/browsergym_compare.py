"""lbi's web observation (an injected DOM walker) against BrowserGym's (Chromium's accessibility tree over CDP,
bids on every element), and the browsergym bridge against lbi's own web env.

1. observation: on the same page (one Chromium page, both observers in turn) — text size, time per observation
   (median of --n), elements an agent can act on (lbi: elements with a bid; BrowserGym: visible elements with a bid
   and an interactive role or a click listener, as `BrowserGymEnv.interactive_elements`), and whether a
   `div` acting through a click listener (MiniWoB++'s START overlay, `#sync-task-cover`) got a bid. Pages: the
   Trac demo's, and MiniWoB++ task pages (third-party, from PyPI's `miniwob`) opened raw, as `lbi env try web`
   would open them;
2. bridge vs web env on the Trac demo: reset and step latency of `browsergym` (the Trac held-out tasks registered as
   BrowserGym tasks, `lbi.trac-web-*`) against `trac`, at BrowserGym's default pre_observation_delay (0.5 s) and
   at 0; and the memory of one worker (its process and its Chromium processes);
3. references: every Trac held-out reference replayed in lbi's trac env (must stay 33/33).

    .venv/bin/python bench/browsergym_compare.py [--n 5] [--skip-references]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, table, write_result  # noqa: E402

TRAC_PAGES = [
    "/",
    "/ticket/7",
    "/newticket",
    "/query?status=!closed",
    "/wiki/TeamContacts",
    "/admin/ticket/components",
    "/timeline",
    "/report/1",
]
MINIWOB_PAGES = [
    "click-test-2",
    "click-dialog",
    "click-tab-2",
    "enter-text",
    "login-user",
    "click-checkboxes",
    "choose-list",
    "email-inbox",
]


def bgym_observe(page: Any) -> tuple[str, list[Any], int, bool]:
    """BrowserGym's observation of a page (as BrowserEnv._get_obs extracts it) → text, candidates, cover bid."""
    from browsergym.core.observation import (
        _post_extract,
        _pre_extract,
        extract_dom_extra_properties,
        extract_dom_snapshot,
        extract_merged_axtree,
    )
    from browsergym.utils.obs import flatten_axtree_to_str

    from lbi.envs.browsergym.env import _mark_clickable, candidates

    _pre_extract(page, tags_to_mark="standard_html")
    dom = extract_dom_snapshot(page)
    axtree = extract_merged_axtree(page)
    props = extract_dom_extra_properties(dom, scale_factor=1.0)
    _post_extract(page)
    raw = {"axtree_object": axtree, "extra_element_properties": props}
    text = flatten_axtree_to_str(_mark_clickable(raw), skip_generic=True)
    cands = candidates(raw)
    every = {p: {**v, "visibility": 1.0} for p, v in props.items()}  # also what lies outside the viewport
    n_all = len(candidates({**raw, "extra_element_properties": every}))
    cover = page.evaluate(
        "() => { const c = document.getElementById('sync-task-cover'); return c ? c.getAttribute('bid') : null; }"
    )
    return text, cands, n_all, bool(cover and cover in {c.bid for c in cands})


def compare_pages(env: Any, urls: list[str], n: int, site: str) -> list[dict[str, Any]]:
    rows = []
    for url in urls:
        env.start_url = url
        env.reset()
        page = env.page
        lbi_t, bg_t = [], []
        for _ in range(n):
            start = time.perf_counter()
            obs = env._observe()
            lbi_t.append(time.perf_counter() - start)
            start = time.perf_counter()
            text, cands, n_all, cover = bgym_observe(page)
            bg_t.append(time.perf_counter() - start)
        lbi_cover = page.evaluate(
            "() => { const c = document.getElementById('sync-task-cover'); "
            "return c ? c.getAttribute('data-lbi-bid') : null; }"
        )
        rows.append(
            {
                "site": site,
                "page": url.split("/", 3)[-1][:40],
                "lbi chars": len(obs.text),
                "bgym chars": len(text),
                "lbi ms": 1000 * statistics.median(lbi_t),
                "bgym ms": 1000 * statistics.median(bg_t),
                "lbi elements": obs.info["n_elements"],
                "bgym elements in view": len(cands),
                "bgym elements": n_all,
                "START bid lbi/bgym": "-" if site == "trac" else f"{bool(lbi_cover)}/{cover}",
            }
        )
    return rows


def worker_mb() -> float:
    """Proportional set size of this process and its children (Chromium's processes, tracd), in MB."""
    import psutil

    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total / 2**20


def latency(env: Any, tasks: list[Any], steps: Any, n: int) -> dict[str, Any]:
    """Reset to each task, then the actions `steps(env)` yields (lazily: a bid is looked up when it is reached)."""
    resets, acts = [], []
    for task in tasks[:n]:
        start = time.perf_counter()
        env.reset(task)
        resets.append(time.perf_counter() - start)
        for action in steps(env):
            start = time.perf_counter()
            obs = env.step(action)
            acts.append(time.perf_counter() - start)
            assert obs.last_action_error is None or "navigations" in obs.last_action_error, obs.last_action_error
    return {
        "reset p50 ms": 1000 * statistics.median(resets),
        "step p50 ms": 1000 * statistics.median(acts),
        "steps": len(acts),
        "worker MB": worker_mb(),
    }


PATHS = ["/ticket/7", "/query?status=!closed", "/newticket", None, "/wiki/TeamContacts"]  # None: fill the summary


def web_steps(env: Any) -> Any:
    for path in PATHS:
        yield f"goto('{path}')" if path else "fill('field-summary', 'x')"


def bridge_steps(env: Any) -> Any:
    page = env._gym.unwrapped.page
    base = page.url.split("/", 3)
    for path in PATHS:
        if path:
            yield f"goto('{base[0]}//{base[2]}{path}')"
        else:
            bid = page.evaluate("() => document.getElementById('field-summary').getAttribute('bid')")
            yield f"fill('{bid}', 'x')"


def bridge_rows(demo: Any, browser: Any, n: int) -> list[dict[str, Any]]:
    from lbi.demos import demo_tasks
    from lbi.envs import make_env
    from lbi.envs.browsergym import trac_tasks
    from lbi.envs.checks import CheckSpec
    from lbi.envs.tasks import Task
    from lbi.envs.web.trac_env import TracWebEnv

    trac_tasks.use_demo(demo)
    trac = demo_tasks("trac")[:n]
    rows = []
    with TracWebEnv(demo, browser=browser) as env:
        rows.append({"env": "trac (lbi web env)", **latency(env, trac, web_steps, n)})
    bridged = [
        Task(
            id=t.id,
            env="browsergym",
            instruction="",
            start={"task": f"lbi.{t.id}", "seed": 0},
            check=CheckSpec(kind="env_reward"),
            goal_at_reset=True,
        )
        for t in trac
    ]
    for delay, keep in ((0.5, False), (0.5, True), (0.0, True)):
        with make_env("browsergym", task=f"lbi.{trac[0].id}", pre_observation_delay=delay, keep_browsers=keep) as env:
            rows.append(
                {
                    "env": f"browsergym bridge (pre_observation_delay {delay:g} s, keep_browsers {keep})",
                    **latency(env, bridged, bridge_steps, n),
                }
            )
    web = rows[0]
    for r in rows:
        r["reset ×web"] = r["reset p50 ms"] / web["reset p50 ms"]
        r["step ×web"] = r["step p50 ms"] / web["step p50 ms"]
    return rows


def references(demo: Any, browser: Any) -> dict[str, Any]:
    from lbi.demos import demo_tasks
    from lbi.envs.tasks import run_reference
    from lbi.envs.web.trac_env import TracWebEnv

    failed = []
    tasks = demo_tasks("trac")
    with TracWebEnv(demo, browser=browser) as env:
        for task in tasks:
            _, result = run_reference(task, env)
            if not result.success:
                failed.append(f"{task.id}: {result.detail}")
    return {"references": len(tasks), "passed": len(tasks) - len(failed), "failed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5, help="observations per page; tasks for the latency rows")
    parser.add_argument("--skip-references", action="store_true")
    parser.add_argument("--skip-observation", action="store_true")
    args = parser.parse_args()

    from lbi.envs.browsergym.bridge import ensure_miniwob_url
    from lbi.envs.web.browser import BrowserSession
    from lbi.envs.web.env import WebEnv
    from lbi.envs.web.trac_server import TracDemo

    out: dict[str, Any] = {"machine_start": machine()}
    with TracDemo() as demo:
        browser = BrowserSession()
        miniwob = ensure_miniwob_url()
        if not args.skip_observation:
            env = WebEnv(demo.base_url, allowed_origins=[demo.base_url, miniwob], browser=browser)
            rows = compare_pages(env, [demo.base_url + p for p in TRAC_PAGES], args.n, "trac")
            rows += compare_pages(env, [f"{miniwob}{p}.html" for p in MINIWOB_PAGES], args.n, "miniwob")
            env.close()
            print(table(rows, title="observation: lbi's DOM walker vs BrowserGym's AX tree (same page, medians)"))
            out["observation"] = rows
        bridge = bridge_rows(demo, browser, args.n)
        print(
            table(bridge, title="the bridge vs lbi's web env on the Trac demo (reset: a task's start; step: goto/fill)")
        )
        out["bridge"] = bridge
        if not args.skip_references:
            out["references"] = refs = references(demo, browser)
            print(
                f"Trac held-out references in lbi's web env: {refs['passed']}/{refs['references']} pass"
                + (f"; failed: {refs['failed']}" if refs["failed"] else "")
            )
        browser.close()
    print(write_result("browsergym_compare", out))


if __name__ == "__main__":
    main()
