"""Rollouts: start a run in the background, list trajectories, watch one step by step (live while it runs)."""

import time

import streamlit as st

from lbi import steps_ui, ui
from lbi.store import read
from lbi.ui import REFRESH_S

project = ui.setup("Rollouts")
store = project.store
synth = project.config.synth

with st.expander("Start a run", expanded=not store.counts()["trajectories"]):
    with st.form("start-run"):
        name_col, policy_col = st.columns(2)
        run_name = name_col.text_input(
            "Run name (re-using a name resumes that run)",
            value=f"rollout-{time.strftime('%Y%m%d-%H%M%S')}",
            key="run_name",
        )
        policy = policy_col.radio(
            "Policy",
            ["explore", "llm"],
            horizontal=True,
            index=0 if synth.policy == "explore" else 1,
            help="explore: instruction-free walk (backward construction labels it) · "
            "llm: the agent carries out generated tasks",
        )
        cols = st.columns(4)
        episodes = cols[0].number_input("Explore episodes", 1, 1000, 3)
        limit = cols[1].number_input("Tasks (llm; 0 = all synthetic)", 0, 100_000, 0)
        concurrency = cols[2].number_input("Concurrency", 1, 16, synth.concurrency)
        max_steps = cols[3].number_input("Max steps", 1, 100, synth.max_steps)
        st.caption(
            f"Environment `{project.config.env.name}` · agent model "
            f"`{project.config.models.for_role('agent')}` (change them in lbi.toml)."
        )
        if st.form_submit_button("Start in the background", type="primary"):
            args = [
                "rollout",
                "--run",
                run_name.strip() or "rollout",
                "--policy",
                policy,
                "--episodes",
                str(episodes),
                "--limit",
                str(limit),
                "--concurrency",
                str(concurrency),
                "--max-steps",
                str(max_steps),
            ]
            ui.start_job(project, args, f"rollout-{run_name.strip()}")
    ui.job_panel("rollout")


ui.running_now(store, "rollout")
link = ui.from_link("rollouts", {"trajectory": ("traj_pick", int), "step": (None, int)})

st.subheader("Trajectories")
filters = st.columns(3)
run = filters[0].selectbox("Run", ["all", *read.run_names(store, "rollout")], key="traj_run")
status = filters[1].selectbox("Status", ["all", "running", "interrupted", "done", "failed"], key="traj_status")
policy_filter = filters[2].selectbox("Policy", ["all", "explore", "llm"], key="traj_policy")
rows = read.trajectories(
    store,
    run=None if run == "all" else run,
    status=None if status == "all" else status,
    policy=None if policy_filter == "all" else policy_filter,
)
if not rows:
    ui.empty("No trajectories yet — start a run above, or run `lbi rollout --policy explore` in a terminal.")
    st.stop()
ui.table(rows, column_config={"instruction": st.column_config.TextColumn(width="large")})

by_id = {r["id"]: r for r in rows}
if "trajectory" in link and link["trajectory"] not in by_id:
    st.warning(f"Trajectory {link['trajectory']} is not in this list (check the filters above).")
    st.session_state.pop("traj_pick", None)
elif "step" in link:
    st.session_state[f"step-{link['trajectory'] if 'trajectory' in link else st.session_state.get('traj_pick')}"] = (
        link["step"]
    )
tid = st.selectbox(
    "Watch a trajectory",
    list(by_id),
    key="traj_pick",
    format_func=lambda t: (
        f"#{t} · {by_id[t]['run']} · {by_id[t]['policy']} · {by_id[t]['steps']} steps · {by_id[t]['status']}"
    ),
)


@st.fragment(run_every=REFRESH_S if by_id[tid]["status"] == "running" else None)
def watch(trajectory_id: int) -> None:
    traj = read.trajectory(store, trajectory_id)
    if traj is None:
        st.warning("This trajectory is gone.")
        return
    if traj["status"] != by_id[trajectory_id]["status"]:
        st.rerun()  # it finished while we watched: refresh the list and stop polling
    steps_ui.trajectory_view(project, traj)
    ui.share_link("rollouts", trajectory=trajectory_id, step=st.session_state.get(f"step-{trajectory_id}", 0))


watch(tid)
