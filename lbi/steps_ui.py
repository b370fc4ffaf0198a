"""The pages' views of what an agent did: a step (action, reasoning, screenshot, observation), a trajectory step by
step, a terminal's step (the command's output and the diff so far), an example's span, and the span grid of the
Backward page (the Rollouts, Backward, Evaluation, Review and Dataset pages).

Text that came from documents, pages or models is shown as `st.code` or through `ui.labelled`, never as Markdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from lbi.project import Project
from lbi.store import read, spans
from lbi.store.db import Store
from lbi.ui import empty, escape_md, labelled, text


def screenshot(path: str | None, project_dir: Path, *, caption: str | None = None) -> None:
    """The step's screenshot, or a clear note when there is none or its file is gone."""
    if not path:
        st.caption("No screenshot for this step (this environment does not take any).")
        return
    file = read.screenshot_file(path, project_dir)
    if file is None:
        st.warning("Screenshot file is missing on disk:")
        text(path)
        return
    st.image(str(file), caption=caption, width="stretch")


def step_detail(step: dict[str, Any], project_dir: Path, *, with_screenshot: bool = True) -> None:
    """One recorded step: action, reasoning, URL, error, screenshot, observation (collapsible)."""
    left, right = st.columns([2, 3]) if with_screenshot else (st.container(), None)  # a screenshot big enough to read
    with left:
        st.caption("Action")
        st.code(step.get("action") or "(none)", language=None, wrap_lines=True)
        if step.get("reasoning"):
            labelled("Reasoning", step["reasoning"])
        if step.get("url"):
            labelled("URL", step["url"])
        if step.get("error"):
            st.caption("Error")
            st.code(step["error"], language=None, wrap_lines=True)
        latency = step.get("latency_ms")
        if latency is not None:
            st.caption(f"Latency {latency:.0f} ms · state {escape_md(step.get('state_signature') or '—')}")
    if right is not None:
        with right:
            screenshot(step.get("screenshot"), project_dir, caption=f"step {step['idx']}")
    with st.expander(f"Observation before step {step['idx']}", expanded=False):
        st.code(step.get("observation") or "(empty)", language=None, wrap_lines=True)


def trajectory_view(project: Project, traj: dict[str, Any]) -> None:
    """A trajectory (`read.trajectory`) step by step: what it was and how it ended, previous/next and a slider over
    its steps, the chosen step in full, and after the last one the final state (the Rollouts and Evaluation pages)."""
    live = " · live" if traj["status"] == "running" else ""
    st.caption(
        f"Trajectory #{traj['id']} · {traj['status']}{live} · policy {traj['policy']} · "
        f"env {traj['env']} · model {escape_md(traj['model'] or '—')}"
    )
    if traj["instruction"]:
        labelled("Instruction", traj["instruction"])
    if traj["error"]:
        st.error("The trajectory ended with an error:")
        st.code(traj["error"], language=None, wrap_lines=True)
    steps = traj["steps"]
    if not steps:
        empty("No steps recorded yet" + (" — this trajectory is still running." if live else "."))
        return
    idx = step_picker(f"step-{traj['id']}", len(steps))
    st.markdown(f"**Step {idx} of {len(steps) - 1}**")
    if traj["env"] == "repo":  # a terminal: the command's output and the diff so far
        from lbi.envs.repo.commands import replay_step

        terminal_step(steps[idx], *replay_step(steps, idx, traj["final_observation"]))
    else:
        step_detail(steps[idx], project.dir)
    if idx == len(steps) - 1 and (traj["final_observation"] or traj["answer"]):
        with st.expander("Final state (after the last action)"):
            if traj["answer"]:
                labelled("Answer", traj["answer"])
            if traj["final_url"]:
                labelled("URL", traj["final_url"])
            st.code(traj["final_observation"] or "", language=None, wrap_lines=True)


def terminal_step(step: dict[str, Any], output: str, diff: str) -> None:
    """One step of a terminal environment (repo): the command and reasoning, then the command's output next to the
    working tree's diff so far."""
    st.caption("Command")
    st.code(step.get("action") or "(none)", language=None, wrap_lines=True)
    if step.get("reasoning"):
        labelled("Reasoning", step["reasoning"])
    if step.get("error"):
        st.caption("Error")
        st.code(step["error"], language=None, wrap_lines=True)
    left, right = st.columns(2)
    with left:
        st.caption("Output")
        st.code(output or "(empty)", language=None, wrap_lines=True)
    with right:
        st.caption("Diff so far")
        st.code(diff or "(no changes yet)", language="diff", wrap_lines=True)
    st.caption(f"Latency {step.get('latency_ms') or 0:.0f} ms · state {escape_md(step.get('state_signature') or '—')}")


def steps_compact(steps: Sequence[dict[str, Any]], project_dir: Path, *, open_steps: int = 1) -> None:
    """Several steps, each in its own expander (the first `open_steps` open)."""
    for n, step in enumerate(steps):
        label = f"Step {step['idx']}: {escape_md((step.get('action') or '')[:90])}"
        with st.expander(label, expanded=n < open_steps):
            step_detail(step, project_dir)


def span_view(store: Store, example: dict[str, Any], project_dir: Path, *, open_steps: int = 1) -> None:
    """An example's span (`read.example`) as its environment showed it: for a terminal environment (repo) each
    command with its output and the diff so far; otherwise each step's action, screenshot (the acted-on element
    boxed) and observation (the page's or the desktop's accessibility tree)."""
    if example["env"] != "repo":
        steps_compact(example["steps"], project_dir, open_steps=open_steps)
        return
    from lbi.envs.repo.commands import replay_step

    traj = read.trajectory(store, example["trajectory_id"])
    every = traj["steps"] if traj else example["steps"]
    final = traj["final_observation"] if traj else None
    for n, step in enumerate(example["steps"]):
        with st.expander(f"Step {step['idx']}: {escape_md((step.get('action') or '')[:90])}", expanded=n < open_steps):
            terminal_step(step, *replay_step(every, step["idx"], final))


# -- deep links ------------------------------------------------------------------------------------------------------
def _shift(key: str, delta: int, last: int) -> None:
    st.session_state[key] = min(max(st.session_state.get(key, 0) + delta, 0), last)


def step_picker(key: str, count: int) -> int:
    """Previous / next buttons and a slider over `count` steps; returns the chosen index."""
    last = max(count - 1, 0)
    st.session_state[key] = min(st.session_state.get(key, 0), last)
    prev_col, slider_col, next_col = st.columns([1, 6, 1], vertical_alignment="bottom")
    prev_col.button(
        "◀ Previous",
        key=f"{key}-prev",
        on_click=_shift,
        args=(key, -1, last),
        disabled=st.session_state[key] <= 0,
        width="stretch",
    )
    next_col.button(
        "Next ▶",
        key=f"{key}-next",
        on_click=_shift,
        args=(key, 1, last),
        disabled=st.session_state[key] >= last,
        width="stretch",
    )
    if count > 1:
        slider_col.slider("Step", 0, last, key=key)
    else:
        slider_col.caption("Step 0 of 1")
    return int(st.session_state[key])


STATUS_COLOURS = {
    spans.NO_EXAMPLE: "#e9ecef",
    spans.EXAMPLE: "#9ecae1",
    spans.KEPT: "#31a354",
    spans.DROPPED: "#de2d26",
    spans.OVERRIDDEN: "#756bb1",
}


def span_grid_figure(grid: spans.SpanGrid, selected: tuple[int, int] | None = None):  # noqa: ANN201 - plotly Figure
    """The L×L span grid: row i = start, column j = end, one coloured square per span (i ≤ j).

    Squares are scatter markers, not a Heatmap trace, because Streamlit's `on_select` reports clicks
    on scatter points but not on heatmap cells."""
    import plotly.graph_objects as go

    side = min(max(320, 120 + 48 * grid.length), 720)
    size = max(6.0, min(40.0, (side - 110) / max(grid.length, 1) * 0.82))
    fig = go.Figure()
    for code, colour in STATUS_COLOURS.items():
        cells = [(i, j) for i in range(grid.length) for j in range(i, grid.length) if grid.status[i][j] == code]
        fig.add_trace(
            go.Scatter(  # an empty status gets one invisible point, so it still shows in the legend
                x=[j for _, j in cells] if cells else [None],
                y=[i for i, _ in cells] if cells else [None],
                mode="markers",
                name=spans.STATUS_NAMES[code],
                marker={"symbol": "square", "size": size, "color": colour, "line": {"width": 1, "color": "#fff"}},
                text=[
                    f"span {i}–{j}: {spans.STATUS_NAMES[code]}<br>{_hover_text(grid.instructions[i][j])}"
                    for i, j in cells
                ],
                hovertemplate="%{text}<extra></extra>",
                unselected={"marker": {"opacity": 1}},
                selected={"marker": {"opacity": 1}},
            )
        )
    if selected:
        i, j = selected
        fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line={"color": "#111", "width": 3})
    axis = {"dtick": 1, "showgrid": False, "zeroline": False, "constrain": "domain"}
    fig.update_layout(
        height=side,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        plot_bgcolor="white",
        xaxis={**axis, "title": "end step j", "side": "top", "scaleanchor": "y", "range": [-0.6, grid.length - 0.4]},
        yaxis={**axis, "title": "start step i", "range": [grid.length - 0.4, -0.6]},
        legend={"orientation": "h", "y": -0.02, "yanchor": "top"},
        clickmode="event+select",
        dragmode=False,
    )
    return fig


def _hover_text(value: str, width: int = 60) -> str:
    """Instruction text for a Plotly hover label: HTML-escaped (Plotly renders a subset of HTML), wrapped."""
    import html
    import textwrap

    return "<br>".join(html.escape(line) for line in textwrap.wrap(value, width)[:6])
