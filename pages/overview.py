"""Overview: settings at a glance, the funnel, model usage by role and over time, runs with progress."""

import pandas as pd
import plotly.express as px
import streamlit as st

from lbi import ui
from lbi.store import read
from lbi.synth import trust
from lbi.ui import REFRESH_S

project = ui.setup("lbi workbench")
store = project.store
cfg = project.config
voting = trust.voting(cfg)
judges = voting.judges

st.caption(f"Project **{ui.escape_md(cfg.project)}** — store `{store.path}`")
cols = st.columns(5)
cols[0].metric("Environment", cfg.env.name)
cols[1].metric("Default model", cfg.models.default)
cols[2].metric(
    "Judges",
    len(cfg.models.judges),
    delta=f"{len(judges)} vote" if len(judges) < len(cfg.models.judges) else None,
    delta_color="off",
    delta_arrow="off",
    help=f"{voting.line()} (`synth.judge_trust`)",
)
cols[3].metric("Judge policy", cfg.synth.judge_policy)
cols[4].metric("Backward mode", cfg.synth.backward_mode)
with st.expander("Models per role and synthesis settings"):
    roles = [{"role": role, "model": cfg.models.for_role(role)} for role in ("task_generator", "agent", "backward")]
    roles += [
        {
            "role": f"judge {j.name} ({j.focus})",
            "model": j.model or cfg.models.default,
            "votes": "yes" if voting.votes(j.name) else f"no: {voting.silenced.get(j.name, '')}",
        }
        for j in cfg.models.judges
    ]
    roles.append({"role": "embedder", "model": cfg.models.embedder})
    left, right = st.columns(2)
    with left:
        ui.table(roles)
    with right:
        ui.table([{"setting": k, "value": str(v)} for k, v in cfg.synth.model_dump().items()])


@st.fragment(run_every=REFRESH_S if read.active_runs(store) else None)
def live() -> None:
    funnel = read.funnel(store, cfg.synth.judge_policy, judges)
    st.subheader("Funnel")
    if not any(funnel.values()):
        ui.empty(
            "The store is empty — add documentation on the Docs page (or `lbi docs add PATH`), "
            "or run the whole pipeline with `lbi synthesize`."
        )
    else:
        frame = pd.DataFrame({"stage": list(funnel), "count": list(funnel.values())})
        fig = px.funnel(frame, x="count", y="stage")
        fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(fig, width="stretch")

    st.subheader("Runs")
    runs = read.runs_table(store)
    if not runs:
        ui.empty("No runs yet — start one on the Rollouts page, or with `lbi rollout` / `lbi synthesize`.")
        return
    running = [r for r in runs if r["status"] == "running"]
    if running:
        ui.run_progress(running)
        st.caption(f"Refreshing every {REFRESH_S} s while a run is in progress.")
    ui.table(
        runs,
        column_config={
            "progress": st.column_config.ProgressColumn("progress", format="percent", min_value=0, max_value=1),
            "progress_done": st.column_config.NumberColumn("done"),
            "progress_total": st.column_config.NumberColumn("of"),
        },
    )


live()

st.subheader("Model usage")
usage = read.usage_by_role(store)
if not usage:
    ui.empty("No model calls yet.")
else:
    ui.table(usage)
    left, right = st.columns(2)
    by_role = pd.DataFrame(usage).groupby("role", as_index=False)[["calls", "prompt_tokens", "completion_tokens"]].sum()
    fig = px.bar(by_role, x="role", y=["prompt_tokens", "completion_tokens"], title="Tokens by role")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10}, legend_title_text="")
    left.plotly_chart(fig, width="stretch")
    over_time = pd.DataFrame(read.usage_over_time(store))
    fig = px.bar(over_time, x="minute", y="tokens", color="role", title="Tokens over time (per minute)")
    fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 40, "b": 10})
    right.plotly_chart(fig, width="stretch")
ui.share_link("overview")
