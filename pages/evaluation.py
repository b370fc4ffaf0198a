"""Evaluation: success per arm (eval run × mode) with 95% intervals, the paired comparison of chosen arms, the
task × arm grid opening each trajectory, the cost per arm, and the training runs with their loss curves."""

import time

import streamlit as st

from lbi import steps_ui, ui
from lbi.store import read
from lbi.use import arms, evaluate, figures
from lbi.use.retrieval import MODES

project = ui.setup("Evaluation")
store = project.store
known = arms.arms(store)

with st.expander("Start an evaluation run", expanded=not known):
    with st.form("start-eval"):
        name_col, model_col = st.columns(2)
        run_name = name_col.text_input(
            "Run name (re-using a name resumes that run)",
            value=f"eval-{time.strftime('%Y%m%d-%H%M%S')}",
            key="ev_run_name",
        )
        model = model_col.text_input(
            "Agent model (one per run)",
            value=project.config.models.for_role("agent"),
            key="ev_model",
            help="Any model string: a trained model (local/NAME) and, to compare it with, the base it started from "
            "at the same precision (local/base-q8_0); or local/smollm2, openai/gpt-4o-mini...",
        )
        modes = st.multiselect("Modes", list(MODES), default=["baseline", "agentic"], key="ev_modes")
        cols = st.columns(2)
        limit = cols[0].number_input("Tasks (0 = every held-out task)", 0, 100_000, 0)
        max_steps = cols[1].number_input("Max steps", 1, 100, project.config.synth.max_steps)
        st.caption(
            f"{len(evaluate.heldout_tasks(project))} held-out tasks for environment `{project.config.env.name}`."
        )
        if st.form_submit_button("Start in the background", type="primary"):
            if not modes:
                st.warning("Choose at least one mode.")
            else:
                name = run_name.strip() or "eval"
                ui.start_job(
                    project,
                    [
                        "eval",
                        "--run",
                        name,
                        "--modes",
                        ",".join(modes),
                        "--limit",
                        str(limit),
                        "--max-steps",
                        str(max_steps),
                        "--model",
                        model.strip(),
                    ],
                    f"eval-{name}",
                )
    ui.job_panel("eval")


ui.running_now(store, "eval")

st.subheader("Success per arm")
if not known:
    ui.empty("No evaluations yet — start a run above, or `lbi eval --run base --modes baseline,agentic`.")
else:
    st.plotly_chart(figures.success_figure(known), width="stretch", config={"displayModeBar": False})
    percent = st.column_config.NumberColumn(format="percent")
    ui.table([a.row() for a in known], column_config={"rate": percent, "ci_low": percent, "ci_high": percent})

    st.subheader("Compare arms")
    labels = [a.label for a in known]
    link = ui.from_link("evaluation", {"arm": ("ev_arm", str), "task": ("ev_task", str), "step": (None, int)})
    st.session_state.setdefault("ev_arms", labels[:6])
    if link.get("arm") in labels and link["arm"] not in st.session_state["ev_arms"]:
        st.session_state["ev_arms"] = [*st.session_state["ev_arms"], link["arm"]]
    elif "arm" in link and link["arm"] not in labels:
        st.warning(f"There is no arm {ui.escape_md(link['arm'])} (arms are RUN:MODE).")
    chosen = st.multiselect("Arms (the first is the reference)", labels, key="ev_arms")
    if len(chosen) >= 2:
        ui.table(
            arms.compare(store, chosen).rows(), column_config={"flipped": st.column_config.TextColumn(width="large")}
        )
        st.caption(
            "Each arm against the reference (vs) on the tasks both ran: how many only the arm solved, "
            "how many only the reference, McNemar's exact p; flipped: `+task` solved only by the arm, "
            "`-task` only by the reference."
        )
    else:
        st.caption("Choose two arms or more to compare them.")

    by_label = {a.label: a for a in known}
    grid = arms.grid(store, [by_label[label] for label in chosen] or known)
    if kinds := arms.by_type(grid):
        st.subheader("Success per task type")
        ui.table(kinds)
        st.caption("Held-out tasks grouped by their task id without the seed: successes/n [Wilson 95% interval].")

    st.subheader("Tasks × arms")
    clicked = ui.chart_click("ev_grid")
    if clicked:
        st.session_state["ev_task"], st.session_state["ev_arm"] = clicked
    if st.session_state.get("ev_task") not in grid.tasks:
        st.session_state["ev_task"] = grid.tasks[0]
    if st.session_state.get("ev_arm") not in grid.arms:
        st.session_state["ev_arm"] = grid.arms[0]
    grid_col, cell_col = st.columns([1, 1])
    with cell_col:  # drawn before the grid (see ui.chart_click)
        st.caption("Click a cell, or pick it here:")
        task = st.selectbox("Task", grid.tasks, key="ev_task")
        arm = st.selectbox("Arm", grid.arms, key="ev_arm")
        cell = grid.cells.get((task, arm))
        st.markdown(f"**{ui.escape_md(task)} · {ui.escape_md(arm)}: {grid.outcome(task, arm)}**")
        if cell is not None and cell["detail"]:
            ui.labelled("Check", cell["detail"])
        if cell is not None and cell["error"]:
            st.error("The episode or its check failed:")
            st.code(cell["error"], language=None, wrap_lines=True)
    with grid_col:
        st.plotly_chart(
            figures.grid_figure(grid, (task, arm)),
            on_select="rerun",
            selection_mode="points",
            key="ev_grid",
            width="stretch",
            config={"displayModeBar": False},
        )
    traj = read.trajectory(store, cell["trajectory_id"]) if cell and cell["trajectory_id"] else None
    if cell is None:
        ui.empty("This arm did not run this task.")
    elif traj is None:
        ui.empty("No trajectory was recorded for this cell.")
    else:
        if "step" in link:
            st.session_state[f"step-{traj['id']}"] = link["step"]
        steps_ui.trajectory_view(project, traj)

    ui.share_link(
        "evaluation", arm=arm, task=task, step=st.session_state.get(f"step-{traj['id']}") if traj is not None else None
    )

    st.subheader("Tokens and seconds per arm")
    st.plotly_chart(figures.cost_figure(known), width="stretch", config={"displayModeBar": False})
    st.caption(
        "Tokens and model seconds: the model calls made during the arm's episodes (retrieval queries "
        "included); wall seconds: its episodes from start to end, environment included."
    )

st.subheader("Training runs")
trained = read.train_runs(store)
with st.expander("Start a training run", expanded=False):
    with st.form("start-train"):
        cfg = project.config.train
        name_col, per_col, epochs_col = st.columns(3)
        train_name = name_col.text_input(
            "Run name (served as local/NAME; re-using it resumes)", value="sft", key="tr_name"
        )
        per = per_col.selectbox(
            "Records",
            ["step", "example"],
            index=["step", "example"].index(cfg.per),
            key="tr_per",
            help="One record per step of a kept example, or one chat per example.",
        )
        epochs = epochs_col.number_input("Epochs", 0.1, 100.0, float(cfg.epochs), key="tr_epochs")
        st.caption(
            f"Base model: `{cfg.base_model or 'the embedded model'}`; LoRA r={cfg.lora_r}; the other "
            "settings are `[train]` in lbi.toml."
        )
        if st.form_submit_button("Train in the background", type="primary"):
            ui.start_job(
                project,
                ["train", "--name", train_name.strip() or "sft", "--per", per, "--epochs", str(epochs)],
                f"train-{train_name.strip() or 'sft'}",
            )
    ui.job_panel("train")
ui.running_now(store, "train")
if not trained:
    ui.empty("No training runs yet — `lbi train` records each here with its loss curve.")
else:
    ui.table(
        [
            {
                "run": t["name"],
                "status": t["status"],
                "base model": t["base_model"],
                "model": t["model"],
                "examples": len(t["examples"]),
                "records": t["records"],
                "tokens": t["tokens"],
                "wall s": t["wall_s"],
                "tokens/s": t["tokens_per_s"],
                "peak RSS MB": t["peak_rss_mb"],
            }
            for t in trained
        ]
    )
    curves = {t["name"]: read.train_log(store, t["run_id"]) for t in trained}
    if any(curves.values()):
        st.plotly_chart(
            figures.loss_figure({k: v for k, v in curves.items() if v}),
            width="stretch",
            config={"displayModeBar": False},
        )
    else:
        st.caption("No loss logged yet.")
