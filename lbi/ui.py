"""Helpers shared by the Streamlit pages: the current project, escaped text, links, jobs, verdict tables (a step
and a trajectory are drawn by `steps_ui`). Pages stay thin.

Everything that came from documents, web pages or models goes through `text`, `st.code` or
`st.dataframe`: never Markdown or HTML, so a `<script>` in a document stays text.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from lbi import jobs
from lbi.config import ConfigError
from lbi.procs import is_alive
from lbi.project import Project, open_project
from lbi.store import committee, read
from lbi.store.db import Store

DEFAULT_PROJECT = os.environ.get("LBI_PROJECT", "projects/demo")
REFRESH_S = 2
"""How often a page re-reads the store or a job's log while something runs (seconds)."""
STATUS_ICONS = {
    "interrupted": ":material/pause_circle:",
    "running": ":material/hourglass_top:",
    "done": ":material/check_circle:",
    "failed": ":material/error:",
    "pending": ":material/schedule:",
}


@st.cache_resource(show_spinner=False)
def _open(path: str, mtime: float) -> Project:
    return open_project(Path(path))


def project_dir() -> str:
    return st.session_state.setdefault("project_dir", DEFAULT_PROJECT)


def default_who() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "researcher"
    except (KeyError, OSError):
        return "researcher"


def who() -> str:
    """The name recorded with overrides and edits (the sidebar's "Your name" field)."""
    return (st.session_state.setdefault("who", default_who()) or "").strip() or "researcher"


def _ensure_navigation() -> None:
    """Make a deep link (e.g. /committee) work as the first request to a fresh server.

    Until app.py has called `st.navigation` once, Streamlit treats the `pages/` folder as an old-style
    (v1) multipage app and runs the page file alone: no sidebar, no project picker. When that happens,
    switch Streamlit to `st.navigation` mode and rerun, so app.py runs and opens the same page.
    (AppTest resets that flag before every run on purpose, so the switch is left alone there.)"""
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    if getattr(PagesManager, "uses_pages_directory", False) and not config.get_option("global.appTest"):
        PagesManager.uses_pages_directory = False
        st.rerun()


def current_project() -> Project | None:
    """The project picked in the sidebar, or None (with an error shown) if it cannot be opened."""
    _ensure_navigation()
    path = Path(project_dir())
    config = path / "lbi.toml"
    try:
        return _open(str(path), config.stat().st_mtime if config.exists() else 0.0)
    except ConfigError as exc:
        st.error(str(exc))
        return None


def require_project() -> Project:
    """The current project, or stop the page (the error with the `lbi init` hint is already shown)."""
    project = current_project()
    if project is None:
        st.stop()
    return project


def setup(title: str) -> Project:
    """Every page starts here: its title, then the project picked in the sidebar (or the page stops)."""
    st.title(title)
    return require_project()


def judges(project: Project) -> list[str]:
    return [j.name for j in project.config.models.judges]


def text(value: object) -> None:
    """Show text from documents, pages or models as plain text: never rendered as HTML or Markdown."""
    st.text(str(value) if value is not None else "")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:])")


def escape_md(value: object) -> str:
    """Data made safe for a Markdown-rendering label (expander titles, captions): every Markdown
    character is backslash-escaped, so no link, image or emphasis can come from data."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def labelled(label: str, value: object) -> None:
    """A caption (our own words) above data shown as escaped text."""
    st.caption(label)
    text(value)


def table(rows: Sequence[dict[str, Any]], **options: Any) -> pd.DataFrame:
    """Rows as an escaped dataframe (full width, no index); returns the frame."""
    frame = pd.DataFrame(list(rows))
    st.dataframe(frame, hide_index=True, width="stretch", **options)
    return frame


_LINKED = "_lbi_linked"
_REMEMBERED = 200
"""How many of its own URLs a page remembers (so that an old one a rerun carries is not taken for a link)."""


def from_link(page: str, params: dict[str, tuple[str | None, Callable[[str], Any]]]) -> dict[str, Any]:
    """What a link to this page names, applied once: `params` maps each URL query parameter the page understands to
    the session-state key of the widget that shows it (None: the page applies it itself) and a converter (`int`,
    `str`...). When the URL holds parameters this page has not applied or written yet (a link opened, or pasted),
    each known one is converted and put in its widget's key, and all are returned; otherwise (the page's own
    reruns) {} is returned and the widgets keep what the user chose. A malformed value is left out with a warning.
    Call it before the widgets are drawn."""
    given = {name: st.query_params[name] for name in params if name in st.query_params}
    written = st.session_state.setdefault(_LINKED, {}).setdefault(page, [])
    if not given or any({k: v for k, v in w.items() if k in params} == given for w in written):
        return {}  # nothing, or a URL this page wrote itself (a rerun can carry one a step old: keys pressed fast)
    written.append(given)
    out: dict[str, Any] = {}
    for name, raw in given.items():
        key, convert = params[name]
        try:
            out[name] = convert(raw)
        except (TypeError, ValueError):
            st.warning(f"The link's {name}={escape_md(raw)} is not valid here; it was left out.")
            continue
        if key is not None:
            st.session_state[key] = out[name]
    return out


def share_link(page: str, **params: object) -> str:
    """Put what is on screen in the URL (`params` without the None ones) and show the link to copy, here; returns
    it. `from_link` then knows these parameters as the page's own (a URL this page wrote is never taken for a link
    again in this session). Pages call it last (inside the fragment that
    draws what the link names, if there is one)."""
    clean = {k: str(v) for k, v in params.items() if v is not None and v != ""}
    if {k: st.query_params.get(k) for k in st.query_params} != clean:
        st.query_params.from_dict(clean)
    written = st.session_state.setdefault(_LINKED, {}).setdefault(page, [])
    if clean not in written:
        written.append(clean)
        del written[:-_REMEMBERED]
    base = st.context.url or f"/{page}"
    url = f"{base}?{urlencode(clean)}" if clean else base
    st.caption(":material/link: Link to what is on screen (copy it with the button at its right)")
    st.code(url, language=None, wrap_lines=True)
    return url


def pinned(key: str, linked: Any = None) -> Any:
    """The value a link put in the select box `key` while the user keeps it there (None once they pick another):
    pages list it first even when their filters leave it out, so a link opens what it names."""
    pins = st.session_state.setdefault("_lbi_pinned", {})
    if linked is not None:
        pins[key] = linked
    if key in pins and st.session_state.get(key) != pins[key]:
        del pins[key]
    return pins.get(key)


def span_param(value: str) -> tuple[int, int]:
    """A span in a link, `I-J` (start and end step)."""
    start, _, end = value.partition("-")
    i, j = int(start), int(end or start)
    if i < 0 or j < i:
        raise ValueError(f"not a span: {value!r}")
    return i, j


def run_progress(runs: Sequence[dict[str, Any]]) -> None:
    """A progress bar per run (name, kind, status, done/total, message)."""
    for run in runs:
        total = run.get("progress_total") or 0
        done = run.get("progress_done") or 0
        icon = STATUS_ICONS.get(run["status"], "•")
        label = f"{icon} {escape_md(run['name'])} ({run['kind']}, {run['status']}) — {done}/{total}"
        st.progress(min(done / total, 1.0) if total else 0.0, text=label)
        if run.get("message"):
            st.caption(escape_md(run["message"]))


def running_now(store: Store, kind: str) -> None:
    """Runs of `kind` in progress with their progress bars (nothing when none is), re-read every REFRESH_S s while
    any run is in progress."""

    @st.fragment(run_every=REFRESH_S if read.active_runs(store) else None)
    def panel() -> None:
        runs = [r for r in read.active_runs(store) if r["kind"] == kind]
        if runs:
            st.subheader("Running now")
            run_progress(runs)

    panel()


def empty(message: str) -> None:
    """An empty-state note (our own words; never interpolate data into it)."""
    st.info(message, icon="ℹ️")


def require_example(store: Store, example_id: int, *, policy: str, judges: committee.Judges) -> dict[str, Any]:
    """`read.example`, or stop the page with a note when the example is gone (removed since the list was read)."""
    ex = read.example(store, example_id, policy=policy, judges=judges)
    if ex is None:
        empty("This example no longer exists (it was removed since the list was read); reload the page.")
        st.stop()
    return ex


def verdict_table(
    verdicts: Sequence[dict[str, Any]], *, placeholder: bool = False, trust: Mapping[str, str] | None = None
) -> None:
    """An example's verdicts: judge, verdict, reason (with `placeholder`, a row saying it is not judged yet), and
    with `trust` (judge → its measured precision and recall, `lbi.synth.trust.Trust.short`) how far each judge can
    be trusted."""
    rows = committee.verdict_rows(verdicts)
    if trust is not None:
        rows = [
            {
                "judge": r["judge"],
                "verdict": r["verdict"],
                "trust (judge benchmark)": trust.get(r["judge"], "not measured"),
                "reason": r["reason"],
            }
            for r in rows
        ]
    if rows or placeholder:
        table(rows or [{"judge": "—", "verdict": "not judged yet", "reason": ""}])


def leak_flag(flag: Mapping[str, Any], *, hits: bool = True) -> None:
    """What the leakage check found on an item (`lbi.store.leaks.flags`): the held-out tasks it resembles, how,
    the score and the excerpt (without `hits`: the caller shows them), and whether it is kept out or a person
    allowed it."""
    state = "kept out of training" if flag["blocked"] else "allowed"
    if flag["decision"]:
        state += f" ({flag['decision']} by {flag['who']}, {str(flag['at'])[:16]}" + (
            f": {flag['note']})" if flag["note"] else ")"
        )
    found = "resembles a held-out task" if flag["flagged"] else "no flag (a person's decision)"
    lines = [f"Leakage check: {found}; {state}."] + [
        f"~ {h['heldout']}: {h['measure']} {h['score']} — {str(h['excerpt'])[:200]}" for h in flag["hits"] if hits
    ]
    show = st.warning if flag["blocked"] else st.info
    show("  \n".join(escape_md(line) for line in lines), icon=":material/policy:")


def leak_panel(store: Store, kind: str, item: str | int, flag: Mapping[str, Any], note: str = "") -> str | None:
    """An item's leak flag (`leak_flag`) and a person's decision on it: allow it despite the flag, or keep it out
    (`Store.add_leak_override`, as `lbi leakage allow/block` records it). Returns what was decided, if anything."""
    leak_flag(flag)
    allow_col, block_col = st.columns(2)
    verdict = None
    if allow_col.button("Allow despite the flag", key="leak_allow", width="stretch", disabled=not flag["blocked"]):
        verdict = "allow"
    if block_col.button("Keep out as a leak", key="leak_block", width="stretch", disabled=flag["blocked"]):
        verdict = "block"
    if verdict is None:
        return None
    store.add_leak_override(kind, str(item), verdict, who=who(), note=note)
    return "allowed despite the leak flag" if verdict == "allow" else "kept out as a leak"


def start_job(project: Project, args: list[str], name: str, *, then: Sequence[list[str]] = ()) -> jobs.Job:
    """Start `lbi ARGS` (then each command of `then`) in the background; `job_panel` shows it."""
    job = jobs.start(project.dir, args, name, then=then)
    st.session_state.setdefault("jobs", []).append(job)
    st.toast(f"Started {name} in the background (pid {job.pid}).")
    return job


def _outcome(job: jobs.Job, *, quiet: bool) -> None:
    code = job.exit_code()
    lines = [escape_md(line) for line in job.output().splitlines() if line.strip() and "━" not in line]
    if code == 0:
        if not quiet:
            st.success("  \n".join(lines) or "Done.")
    elif code == jobs.KILLED:
        st.warning(f"Job {escape_md(job.name)} was stopped before it finished.")
    else:
        st.error("  \n".join(lines[-5:]) or f"Job {escape_md(job.name)} failed (exit status {code}).")


def job_panel(name: str, *, quiet: bool = False) -> jobs.Job | None:
    """The background jobs of this session called `name` (or `name-...`), newest first: the log of one that
    runs (the panel polls every REFRESH_S s and re-runs the page when it ends); for the newest once it has
    ended, what it printed — a success (unless `quiet`: the page shows the result itself) or its error;
    the logs of older ones. Returns the newest job, if any. Progress-bar lines (`━`) stay in the logs."""
    mine = [
        job for job in reversed(st.session_state.get("jobs", [])) if job.name == name or job.name.startswith(f"{name}-")
    ]
    running = [job.pid for job in mine if job.alive()]

    @st.fragment(run_every=REFRESH_S if running else None)
    def panel() -> None:
        if any(not is_alive(pid) for pid in running):
            st.rerun()  # a job ended: re-run the whole page, so it shows what the job wrote to the store
        for n, job in enumerate(mine):
            alive = job.alive()
            if n == 0 and not alive:
                _outcome(job, quiet=quiet)
                continue
            state = "running" if alive else "finished"
            with st.expander(f"Job {escape_md(job.name)} — {state} (pid {job.pid})", expanded=alive):
                st.code(jobs.tail(job.log, 30) or "(no output yet)", language=None)

    panel()
    return mine[0] if mine else None


def chart_click(key: str) -> tuple[Any, ...] | None:
    """The `customdata` of a point newly clicked on the Plotly chart with this key, or None; a click is reported
    once. Read from the chart's selection state at the start of the run, before the chart is drawn: widgets set
    from the click are then drawn before the chart, so a rerun the redrawn chart itself sets off already carries
    their new values (with `st.rerun()` after the chart, such a rerun could carry their old ones)."""
    state = st.session_state.get(key) or {}
    points = state.get("selection", {}).get("points", [])
    seen = f"{key}-seen"
    if not points or not points[0].get("customdata"):
        st.session_state.pop(seen, None)
        return None
    clicked = tuple(points[0]["customdata"])
    if clicked == st.session_state.get(seen):
        return None
    st.session_state[seen] = clicked
    return clicked
