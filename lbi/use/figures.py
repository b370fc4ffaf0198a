"""The Evaluation page's Plotly figures, built from `lbi.use.arms` and the training log (no Streamlit here):
success per arm with Wilson 95% error bars, the task × arm grid, the cost per arm, and training loss curves.

Text from the store (run names, task ids, models) is HTML-escaped wherever Plotly shows it (axis categories,
legends, hover text): Plotly renders a subset of HTML in labels. Clicks report the raw values as `customdata`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lbi.use.arms import Arm, Grid

OUTCOME_COLOURS = {"solved": "#31a354", "failed": "#de2d26", "error": "#fd8d3c", "not run": "#e9ecef"}
MARGIN = {"l": 10, "r": 10, "t": 30, "b": 10}


def success_figure(arms: Sequence[Arm]) -> go.Figure:
    """One bar per arm (its success rate), coloured by the agent's model, with the Wilson 95% interval as an
    error bar and `solved/n` on the bar."""
    fig = go.Figure()
    for model in dict.fromkeys(a.model for a in arms):
        mine = [a for a in arms if a.model == model]
        fig.add_trace(
            go.Bar(
                x=[html.escape(a.label) for a in mine],
                y=[a.rate for a in mine],
                name=html.escape(model),
                text=[f"{a.successes}/{a.n}" for a in mine],
                textposition="none",
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [a.interval[1] - a.rate for a in mine],
                    "arrayminus": [a.rate - a.interval[0] for a in mine],
                    "color": "#444",
                },
                customdata=[[f"{a.interval[0]:.0%}", f"{a.interval[1]:.0%}"] for a in mine],
                hovertemplate="%{x}<br>success %{y:.0%} (95% CI %{customdata[0]}–%{customdata[1]})"
                "<br>%{text} tasks<extra></extra>",
            )
        )
    fig.add_trace(
        go.Scatter(  # solved/n above each interval, where no error bar crosses it
            x=[html.escape(a.label) for a in arms],
            y=[a.interval[1] + 0.01 for a in arms],
            mode="text",
            showlegend=False,
            text=[f"{a.successes}/{a.n}" for a in arms],
            textposition="top center",
            hoverinfo="skip",
        )
    )
    fig.update_layout(
        height=360,
        margin=MARGIN,
        yaxis={"title": "success rate", "range": [0, 1.12], "tickformat": ".0%"},
        xaxis={"title": "arm (run:mode)", "type": "category"},
        legend_title_text="model",
        barmode="group",
        bargap=0.35,
    )
    return fig


def grid_figure(grid: Grid, selected: tuple[str, str] | None = None) -> go.Figure:
    """Held-out tasks (rows) × arms (columns), one square per cell coloured by its outcome; a click reports the
    cell's (task, arm) as `customdata`. Scatter markers, not a Heatmap, for the same reason as the span grid:
    Streamlit's `on_select` reports clicks on points only."""
    fig = go.Figure()
    for outcome, colour in OUTCOME_COLOURS.items():
        cells = [(t, a) for t in grid.tasks for a in grid.arms if grid.outcome(t, a) == outcome]
        fig.add_trace(
            go.Scatter(  # an empty outcome gets one invisible point, so it still shows in the legend
                x=[html.escape(a) for _, a in cells] if cells else [None],
                y=[html.escape(t) for t, _ in cells] if cells else [None],
                mode="markers",
                name=outcome,
                marker={"symbol": "square", "size": 18, "color": colour, "line": {"width": 1, "color": "#fff"}},
                customdata=[[t, a] for t, a in cells],
                text=[f"{html.escape(t)} · {html.escape(a)}: {outcome}" for t, a in cells],
                hovertemplate="%{text}<extra></extra>",
                unselected={"marker": {"opacity": 1}},
                selected={"marker": {"opacity": 1}},
            )
        )
    if selected and selected[0] in grid.tasks and selected[1] in grid.arms:
        fig.add_trace(
            go.Scatter(
                x=[html.escape(selected[1])],
                y=[html.escape(selected[0])],
                mode="markers",
                showlegend=False,
                hoverinfo="skip",
                marker={"symbol": "square-open", "size": 24, "color": "#111", "line": {"width": 3}},
            )
        )
    axis = {"type": "category", "showgrid": False, "zeroline": False}
    fig.update_layout(
        height=min(140 + 24 * len(grid.tasks), 2400),
        margin=MARGIN,
        plot_bgcolor="white",
        xaxis={**axis, "side": "top", "categoryorder": "array", "categoryarray": [html.escape(a) for a in grid.arms]},
        yaxis={
            **axis,
            "autorange": "reversed",
            "categoryorder": "array",
            "categoryarray": [html.escape(t) for t in grid.tasks],
        },
        legend={"orientation": "h", "y": -0.02, "yanchor": "top"},
        clickmode="event+select",
        dragmode=False,
    )
    return fig


def cost_figure(arms: Sequence[Arm]) -> go.Figure:
    """Tokens (model calls during the arm's episodes) and seconds (model time, wall time) per arm."""
    labels = [html.escape(a.label) for a in arms]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("tokens", "seconds"))
    fig.add_trace(go.Bar(x=labels, y=[a.tokens for a in arms], name="tokens", marker_color="#6baed6"), 1, 1)
    fig.add_trace(go.Bar(x=labels, y=[a.model_s for a in arms], name="model s", marker_color="#9e9ac8"), 1, 2)
    fig.add_trace(go.Bar(x=labels, y=[a.wall_s for a in arms], name="wall s", marker_color="#bdbdbd"), 1, 2)
    fig.update_layout(height=320, margin={**MARGIN, "t": 40}, barmode="group", legend={"orientation": "h"})
    fig.update_xaxes(type="category")
    return fig


def loss_figure(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> go.Figure:
    """Training loss against the optimizer step, one line per training run (`read.train_log` rows)."""
    fig = go.Figure()
    for name, points in curves.items():
        fig.add_trace(
            go.Scatter(
                x=[p["step"] for p in points],
                y=[p["loss"] for p in points],
                mode="lines+markers",
                name=html.escape(name),
            )
        )
    fig.update_layout(
        height=320,
        margin=MARGIN,
        xaxis={"title": "step"},
        yaxis={"title": "training loss"},
        legend_title_text="training run",
    )
    return fig
