"""Dataset: search and filter the kept examples, open one with its steps and screenshots."""

import streamlit as st

from lbi import steps_ui, ui
from lbi.store import committee, read
from lbi.synth import trust
from lbi.use.export import card_path

MAX_PICK = 500

project = ui.setup("Dataset")
store = project.store
voters = trust.voters(project.config)

if not store.counts()["examples"]:
    ui.empty(
        "No examples yet — roll out (Rollouts page), label spans (Backward page or `lbi backward`) and "
        "run the committee (`lbi filter`); kept examples appear here."
    )
    st.stop()

link = ui.from_link("dataset", {"example": ("ds_pick", int), "search": ("ds_search", str)})
options = read.dataset_filters(store)
search = st.text_input("Search instructions", key="ds_search", placeholder="e.g. milestone")
cols = st.columns(5, vertical_alignment="bottom")
policy = cols[0].selectbox(
    "Policy", committee.POLICIES, key="ds_policy", index=committee.POLICIES.index(project.config.synth.judge_policy)
)
mode = cols[1].selectbox("Mode", ["all", *options["mode"]], key="ds_mode")
env = cols[2].selectbox("Environment", ["all", *options["env"]], key="ds_env")
run = cols[3].selectbox("Run", ["all", *options["run"]], key="ds_run")
kept_only = cols[4].toggle("Kept only", value=True, key="ds_kept")

rows = read.search_examples(
    store,
    policy=policy,
    judges=voters,
    search=search,
    mode=None if mode == "all" else mode,
    env=None if env == "all" else env,
    run=None if run == "all" else run,
    kept_only=kept_only,
)
kept_total = committee.kept_count(store, policy, voters)
st.caption(f"{len(rows)} examples match · {kept_total} kept under {policy} out of {store.counts()['examples']}")
pinned = ui.pinned("ds_pick", link.get("example"))
linked = read.example(store, pinned, policy=policy, judges=voters) if pinned is not None else None
if pinned is not None and linked is None:
    st.warning(f"There is no example {pinned}.")
    del st.session_state["ds_pick"]
if not rows and linked is None:
    ui.empty("No example matches these filters. Try another policy, clear the search, or turn off “Kept only”.")
    st.stop()
ui.table(
    rows,
    column_config={
        "kept": st.column_config.CheckboxColumn("kept"),
        "instruction": st.column_config.TextColumn(width="large"),
    },
)

with st.expander("Export kept examples for fine-tuning", icon=":material/download:"):
    ecols = st.columns(3, vertical_alignment="bottom")
    fmt = ecols[0].selectbox(
        "Format",
        ["jsonl", "parquet", "agentlab", "adp"],
        key="ds_fmt",
        help="jsonl/parquet: chat records for TRL · agentlab: BrowserGym/AgentLab-style step "
        "records · adp: Agent Data Protocol trajectories",
    )
    per = ecols[1].selectbox("One record per", ["example", "step"], key="ds_per", disabled=fmt in ("agentlab", "adp"))
    out = (
        project.dir
        / "export"
        / (f"lbi-{fmt}-{policy}.jsonl" if fmt in ("agentlab", "adp") else f"lbi-{per}s-{policy}.{fmt}")
    )
    if ecols[2].button("Export", key="ds_export"):
        st.session_state["ds_exported"] = out
        ui.start_job(
            project, ["export", "--format", fmt, "--per", per, "--policy", policy, "--out", str(out)], "export"
        )
    job = ui.job_panel("export")
    path = st.session_state.get("ds_exported")
    if job is not None and job.exit_code() == 0 and path is not None and path.exists():
        st.caption(f"Wrote {path} (`datasets.load_dataset('json', data_files=...)` loads it).")
        st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, key="ds_download")
        st.code(card_path(path).read_text(encoding="utf-8"), language="markdown")

by_id = {r["id"]: r for r in rows[:MAX_PICK]}
if linked is not None and pinned not in by_id:  # a link to an example these filters leave out: shown first
    by_id = {pinned: linked, **by_id}
example_id = st.selectbox(
    "Open an example", list(by_id), key="ds_pick", format_func=lambda i: f"#{i} · {by_id[i]['instruction'][:110]}"
)
ex = ui.require_example(store, example_id, policy=policy, judges=voters)
st.subheader(f"Example #{example_id}")
ui.labelled("Instruction", ex["instruction"])
decision = ex["decision"] or {}
meta = st.columns(4)
meta[0].metric("Decision", "kept" if decision.get("kept") else "dropped")
meta[1].metric("Voting judges saying yes", committee.yes_of(decision, voters))
meta[2].metric("Steps", ex["span_end"] - ex["span_start"] + 1)
meta[3].metric("Mode", ex["mode"])
st.caption(
    f"Trajectory {ex['trajectory_id']} (steps {ex['span_start']}–{ex['span_end']}) · env {ex['env']} · "
    f"run {ui.escape_md(ex['run'] or '—')} · override {decision.get('override') or 'none'}"
)
ui.verdict_table(ex["verdicts"])
if ex["edits"]:
    with st.expander(f"Instruction edits ({len(ex['edits'])})"):
        ui.table(ex["edits"])
st.subheader("Steps")
steps_ui.steps_compact(ex["steps"], project.dir)
ui.share_link("dataset", example=example_id, search=search or None)
