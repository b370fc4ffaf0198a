"""Backward construction: the L×L span grid of a trajectory, each span's instruction, edits, re-runs."""

import math

import streamlit as st

from lbi import steps_ui, ui
from lbi.store import committee, read, spans
from lbi.synth import trust

project = ui.setup("Backward construction")
store = project.store
voters = trust.voters(project.config)

rows = [r for r in read.trajectories(store, trainable=True) if r["steps"]]
if not rows:
    ui.empty(
        "No trajectories with steps yet — start a run on the Rollouts page (or `lbi rollout`), "
        "then come back to label its spans."
    )
    st.stop()

link = ui.from_link(
    "backward",
    {"trajectory": ("bw_traj", int), "span": (None, ui.span_param), "mode": (None, str), "example": (None, int)},
)
if "example" in link:  # a link to an example: its trajectory, span and mode
    linked = read.example(store, link["example"])
    if linked is None:
        st.warning(f"There is no example {link['example']}.")
    else:
        st.session_state["bw_traj"] = linked["trajectory_id"]
        link |= {"span": (linked["span_start"], linked["span_end"]), "mode": linked["mode"]}
by_id = {r["id"]: r for r in rows}
if st.session_state.get("bw_traj") is not None and st.session_state["bw_traj"] not in by_id:
    st.warning(f"Trajectory {st.session_state['bw_traj']} has no steps here, or may not become training data.")
    del st.session_state["bw_traj"]
pick_col, mode_col, policy_col = st.columns([3, 1, 1])
tid = pick_col.selectbox(
    "Trajectory",
    list(by_id),
    key="bw_traj",
    format_func=lambda t: (
        f"#{t} · {by_id[t]['run']} · {by_id[t]['policy']} · {by_id[t]['steps']} steps · {by_id[t]['examples']} examples"
    ),
)
modes = spans.example_modes(store, tid) or [project.config.synth.backward_mode]
if link.get("mode") in modes:
    st.session_state[f"bw_mode-{tid}"] = link["mode"]
mode = mode_col.selectbox("Mode", modes, key=f"bw_mode-{tid}")
policy = policy_col.selectbox(
    "Policy", committee.POLICIES, key="bw_policy", index=committee.POLICIES.index(project.config.synth.judge_policy)
)
grid = spans.span_grid(store, tid, policy=policy, judges=voters, mode=mode)
if by_id[tid]["instruction"]:
    ui.labelled("The rollout's own instruction", by_id[tid]["instruction"])
counts = grid.counts()
st.caption(" · ".join(f"{name}: {count}" for name, count in counts.items()) + f" (L = {grid.length})")

i_key, j_key, sel_key = f"bw_i-{tid}", f"bw_j-{tid}", f"bw_sel-{tid}"
if "span" in link and link["span"][1] < grid.length:
    st.session_state[i_key], st.session_state[j_key] = link["span"]
st.session_state.setdefault(i_key, 0)
st.session_state.setdefault(j_key, 0)
grid_col, cell_col = st.columns([1, 1])
with grid_col:
    event = st.plotly_chart(
        steps_ui.span_grid_figure(grid, (st.session_state[i_key], st.session_state[j_key])),
        on_select="rerun",
        selection_mode="points",
        key=f"bw_chart-{tid}",
        width="stretch",
        config={"displayModeBar": False},
    )
    points = list(event.selection.points) if event else []
    if points:
        clicked = (int(points[0]["y"]), int(points[0]["x"]))
        if clicked != st.session_state.get(sel_key) and clicked[0] <= clicked[1]:
            st.session_state[sel_key] = clicked
            st.session_state[i_key], st.session_state[j_key] = clicked
            st.rerun()
    st.caption("Click a cell (on or above the diagonal), or pick the span here:")
    i_col, j_col = st.columns(2)
    i = i_col.number_input("start i", 0, max(grid.length - 1, 0), key=i_key)
    j = j_col.number_input("end j", 0, max(grid.length - 1, 0), key=j_key)

with cell_col:
    st.subheader(f"Span {i}–{j}")
    example_id = grid.example_ids[i][j] if i <= j else None
    if i > j:
        st.warning("The start must not be after the end.")
    elif example_id is None:
        ui.empty(
            "No example for this span in this mode (spans made only of failed actions are skipped). "
            "Re-run backward construction below to label it."
        )
    else:
        ex = ui.require_example(store, example_id, policy=policy, judges=voters)
        st.caption(
            f"Example #{example_id} · {spans.STATUS_NAMES[grid.status[i][j] or spans.NO_EXAMPLE]} · model "
            f"{ui.escape_md(ex['model'] or '—')}"
        )
        with st.form(f"edit-{example_id}"):
            new_text = st.text_area("Instruction (edits are kept with their history)", ex["instruction"])
            if st.form_submit_button("Save instruction", type="primary") and new_text.strip() != ex["instruction"]:
                store.edit_example(example_id, new_text.strip(), who=ui.who())
                st.rerun()
        ui.verdict_table(ex["verdicts"])
        if ex["edits"]:
            st.caption("Edit history (newest first)")
            ui.table(ex["edits"])

if i <= j:
    st.subheader(f"Steps {i}–{j}")
    steps_ui.steps_compact(read.steps(store, tid, i, j), project.dir)

st.subheader("Re-run backward construction for this trajectory")
n_spans, per_call = grid.length * (grid.length + 1) // 2, project.config.synth.batch_spans
batched_calls = math.ceil(n_spans / per_call) if per_call else 1
st.caption(
    f"per-span: one model call per span ({n_spans} for L = {grid.length}) · batched: "
    f"{f'up to {per_call}' if per_call else 'all'} spans per call ({batched_calls}; "
    "more if the model's context window holds fewer). Spans already labelled in a mode are skipped."
)
run_mode = st.radio("Mode", ["batched", "per-span"], horizontal=True, key="bw_run_mode")
judge_after = st.checkbox("Ask the committee about the new examples", value=True, key="bw_judge")
if st.button("Run backward construction", type="primary"):
    then = [["filter", "--trajectory", str(tid)]] if judge_after else []
    ui.start_job(project, ["backward", "--trajectory", str(tid), "--mode", run_mode], f"backward-{tid}", then=then)
ui.job_panel(f"backward-{tid}")
ui.share_link("backward", trajectory=tid, span=f"{i}-{j}", mode=mode)
