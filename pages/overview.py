"""Overview: settings at a glance, the funnel, model usage, runs."""

import pandas as pd
import plotly.express as px
import streamlit as st

from lbi import queries, ui

st.title("lbi workbench")
project = ui.current_project()
if project is None:
    st.stop()

cfg = project.config
st.caption(f"Project **{cfg.project}** — store `{project.store.path}`")
cols = st.columns(4)
cols[0].metric("Environment", cfg.env.name)
cols[1].metric("Default model", cfg.models.default)
cols[2].metric("Judges", len(cfg.models.judges))
cols[3].metric("Judge policy", cfg.synth.judge_policy)

st.subheader("Funnel")
funnel = queries.funnel(project.store, cfg.synth.judge_policy, len(cfg.models.judges))
st.plotly_chart(px.funnel(pd.DataFrame({"stage": list(funnel), "count": list(funnel.values())}),
                          x="count", y="stage"), use_container_width=True)

st.subheader("Model usage")
usage = queries.usage_by_role(project.store)
if usage:
    st.dataframe(pd.DataFrame(usage), hide_index=True, use_container_width=True)
    over_time = pd.DataFrame(queries.usage_over_time(project.store))
    st.plotly_chart(px.bar(over_time, x="minute", y="tokens", color="role"), use_container_width=True)
else:
    st.info("No model calls yet.")

st.subheader("Runs")
runs = queries.recent_runs(project.store)
if runs:
    st.dataframe(pd.DataFrame(runs), hide_index=True, use_container_width=True)
else:
    st.info("No runs yet.")
