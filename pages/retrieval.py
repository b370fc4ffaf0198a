"""Retrieval lab: what each retrieval mode returns for a task, the agent run in each mode, and evaluation results."""

import json

import plotly.express as px
import streamlit as st

from lbi import ui
from lbi.use import evaluate
from lbi.use.retrieval import MODES

project = ui.setup("Retrieval lab")
out_dir = project.dir / "lab"

choices = {t.id: t for t in evaluate.heldout_tasks(project)}
link = ui.from_link("retrieval", {"task": ("rl_task", str)})
if st.session_state.get("rl_task") not in (None, *choices):
    st.warning(f"There is no held-out task {ui.escape_md(st.session_state['rl_task'])}.")
    del st.session_state["rl_task"]
source = st.radio("Task", ["a held-out task", "type one"], horizontal=True)
if source == "a held-out task" and choices:
    picked = choices[
        st.selectbox(
            "Held-out task", list(choices), key="rl_task", format_func=lambda t: f"{t}: {choices[t].instruction[:90]}"
        )
    ]
    instruction, task_id = picked.instruction, picked.id
else:
    if source == "a held-out task":
        st.info("No held-out tasks yet: import some with `lbi tasks import FILE` (or on the Docs page).")
    instruction, task_id = st.text_input("Instruction", "Create a ticket about a crash in component backend"), ""

st.subheader("What each mode retrieves")
st.caption(
    "Runs in the background at the environment's start state: agentic retrieval (observation-based + "
    "model-based parts) next to plain example retrieval and docs-RAG."
)
slug = (task_id or "typed").replace("/", "_")
result_file = out_dir / f"retrieve-{slug}.json"
if st.button("Retrieve", type="primary"):
    result_file.unlink(missing_ok=True)
    args = ["retrieve", instruction, "--out", str(result_file)] + (["--task", task_id] if task_id else [])
    ui.start_job(project, args, f"retrieve-{slug}")
ui.job_panel(f"retrieve-{slug}", quiet=True)
if result_file.exists():
    data = json.loads(result_file.read_text())
    ui.labelled("Instruction", data["instruction"])
    st.caption(f"Start state: {ui.escape_md(data['observation']['state_signature'])} · index {data['index']}")
    columns = st.columns(len(data["results"]))
    for column, (mode, res) in zip(columns, data["results"].items(), strict=True):
        with column:
            st.markdown(f"**{mode}** · {res['used']} used · ~{res['tokens']} tokens")
            if res["query"]:
                ui.labelled("Model-written query", res["query"])
            for part in ("observation", "model", "instruction"):
                for hit in res[part]:
                    with st.expander(f"{part} · {hit['kind']} · {hit['score']:.2f}"):
                        ui.text(hit["text"])
            if not any(res[p] for p in ("observation", "model", "instruction")):
                st.info("Nothing retrieved (is the index empty? keep some examples and run `lbi index`).")

st.subheader("Run the agent in each mode")
modes = st.multiselect("Modes", list(MODES), default=["baseline", "agentic"])
if task_id and st.button("Run on this task"):
    ui.start_job(
        project, ["eval", "--modes", ",".join(modes), "--tasks", task_id, "--run", f"lab-{task_id}"], f"lab-{task_id}"
    )
ui.job_panel("lab", quiet=True)

st.subheader("Evaluation results")
rows = evaluate.results(project)
if rows:
    chart = px.bar(
        rows,
        x="mode",
        y="rate",
        color="run",
        barmode="group",
        text="n",
        error_y=[r["ci_high"] - r["rate"] for r in rows],
        error_y_minus=[r["rate"] - r["ci_low"] for r in rows],
        labels={"rate": "success rate", "n": "tasks"},
    )
    st.plotly_chart(chart, width="stretch")
    ui.table(rows)
else:
    st.info("No evaluations yet: `lbi eval --modes baseline,agentic` or the button above.")
ui.share_link("retrieval", task=task_id or None)
