"""Committee: each judge's verdict and reason with how far it can be trusted (its measured precision and recall on
the judge benchmark), the policies, overrides, leakage flags, the filtered-out audit, agreement."""

import plotly.express as px
import streamlit as st

from lbi import ui, verdicts_ui
from lbi.store import committee, leaks
from lbi.synth import trust

MAX_ROWS = 2000
MAX_PICK = 500

project = ui.setup("Committee")
store = project.store
judge_names = ui.judges(project)
voting = trust.voting(project.config)
voters = voting.judges

if not store.counts()["examples"]:
    ui.empty(
        "No examples yet — run backward construction (Backward page or `lbi backward`), "
        "then the committee (`lbi filter`)."
    )
    st.stop()

link = ui.from_link(
    "committee",
    {
        "example": ("committee_pick", int),
        "show": ("committee_show", str),
        "search": ("committee_search", str),
        "leaks": ("committee_leaks", lambda v: v in ("1", "true", "yes")),
    },
)
if link.get("show") not in (None, "all", "kept", "dropped"):
    st.session_state["committee_show"] = "all"
policy = (
    st.segmented_control(
        "Judge policy",
        committee.POLICIES,
        default=project.config.synth.judge_policy,
        key="committee_policy",
        help="strict: every judge says yes · majority: most do · relaxed: any does. "
        "A human override always wins; near-duplicates of a kept example are dropped.",
    )
    or project.config.synth.judge_policy
)
trusted, whole = verdicts_ui.judge_trust(project, committee.judge_names(store, judge_names), policy)
counts = committee.kept_by_policy(store, voters)
cols = st.columns(4)
cols[0].metric("Examples", store.counts()["examples"])
for col, name in zip(cols[1:], committee.POLICIES, strict=True):
    col.metric(f"Kept ({name})", counts[name], help="selected policy" if name == policy else None)
if len(voters) < len(judge_names) or voting.note:
    st.caption(ui.escape_md(f"Who decides: {voting.line()} (setting synth.judge_trust; the table below)."))

st.subheader("Verdicts")
view_col, search_col, leak_col = st.columns([2, 3, 2])
show = view_col.radio(
    "Show",
    ["all", "kept", "dropped"],
    horizontal=True,
    key="committee_show",
    format_func={"all": "All", "kept": "Kept", "dropped": "Filtered out (audit)"}.get,
)
search = search_col.text_input("Search instructions", key="committee_search")
flagged = [int(f["item"]) for f in leaks.flags(store, "example") if f["flagged"]]
only_flagged = leak_col.toggle(
    f"Only leak flags ({len(flagged)})",
    key="committee_leaks",
    help="Examples the leakage check found resembling a held-out task (`lbi leakage`).",
)
rows = committee.committee_table(
    store,
    policy=policy,
    judges=judge_names,
    voters=voters,
    show=show,
    search=search,
    limit=MAX_ROWS + 1,
    ids=flagged if only_flagged else None,
)
st.caption(f"{min(len(rows), MAX_ROWS)} examples" + (f" (the first {MAX_ROWS} shown)" if len(rows) > MAX_ROWS else ""))
if not rows:
    ui.empty("Nothing in this view.")
else:
    ui.table(
        rows[:MAX_ROWS],
        column_config={
            "kept": st.column_config.CheckboxColumn("kept"),
            "duplicate": st.column_config.CheckboxColumn("dup"),
            "instruction": st.column_config.TextColumn("instruction", width="large"),
            "leaked": st.column_config.CheckboxColumn("leak: kept out"),
            "leak": st.column_config.TextColumn("resembles held-out (leakage check)"),
            **{
                f"{name} verdict": st.column_config.TextColumn(f"{name} verdict", help=t.short())
                for name, t in trusted.items()
            },
        },
    )
checked = leaks.checked_count(store)["example"]
leak_note, leak_run = st.columns([4, 1])
leak_note.caption(
    f"The leakage check has looked at {checked} of {store.counts()['examples']} examples; a flagged one is kept out "
    "of training until a person allows it (below, or `lbi leakage allow example ID`)."
)
if leak_run.button("Run the leakage check", key="committee_leakage"):
    ui.start_job(project, ["leakage"], "leakage")
ui.job_panel("leakage")

st.subheader("Override a decision")
if only_flagged:
    st.page_link(
        "pages/review.py",
        label="Go through the leak flags one example at a time, with the keyboard: A allow, O keep out (Review page)",
        icon=":material/policy:",
        query_params={"queue": "leaks", **({"search": search} if search else {})},
    )
else:
    st.page_link(
        "pages/review.py",
        label="Go through this view one example at a time, with the keyboard (Review page)",
        icon=":material/rate_review:",
        query_params={
            "queue": {"kept": "kept", "dropped": "filtered"}.get(show, "all"),
            **({"policy": policy} if show != "all" and policy != "strict" else {}),
            **({"search": search} if search else {}),
        },
    )
if rows:
    by_id = {r["id"]: r for r in rows[:MAX_PICK]}
    pinned = ui.pinned("committee_pick", link.get("example"))
    if pinned is not None and pinned not in by_id:  # a link to an example this view does not list first
        found = committee.committee_table(store, policy=policy, judges=judge_names, voters=voters, ids=[pinned])
        if found:
            by_id = {pinned: found[0], **by_id}
        else:
            st.warning(f"There is no example {pinned}.")
            del st.session_state["committee_pick"]
    example_id = st.selectbox(
        "Example",
        list(by_id),
        key="committee_pick",
        format_func=lambda i: f"#{i} {'kept' if by_id[i]['kept'] else 'dropped'} · {by_id[i]['instruction'][:100]}",
    )
    ex = ui.require_example(store, example_id, policy=policy, judges=voters)
    left, right = st.columns([3, 2])
    with left:
        ui.labelled("Instruction", ex["instruction"])
        st.caption(f"Trajectory {ex['trajectory_id']}, steps {ex['span_start']}–{ex['span_end']}, mode {ex['mode']}")
        verdicts_ui.verdicts(ex, trusted)
        if ex["overrides"]:
            st.caption("Override history (the newest wins)")
            ui.table(ex["overrides"])
    with right:
        decision = ex["decision"] or {}
        st.metric(
            "Decision under this policy",
            "kept" if decision.get("kept") else "dropped",
            help="kept out by the leakage check" if decision.get("leaked") else None,
        )
        note = st.text_input("Note (why)", key=f"note-{example_id}")
        keep_col, drop_col = st.columns(2)
        verdict = None
        if keep_col.button("Keep", type="primary", key="override_keep", width="stretch"):
            verdict = "keep"
        if drop_col.button("Drop", key="override_drop", width="stretch"):
            verdict = "drop"
        if verdict:
            store.add_override(example_id, verdict, who=ui.who(), note=note)
            st.session_state["committee_flash"] = f"Override recorded: #{example_id} → {verdict} by {ui.who()}."
            st.rerun()
        verdicts_ui.leak_decision(store, ex, note_key=f"note-{example_id}", flash_key="committee_flash")
        if flash := st.session_state.pop("committee_flash", None):
            st.success(ui.escape_md(flash))
        st.caption(f"Recorded as {ui.escape_md(ui.who())} (change it in the sidebar).")

st.subheader("How far each judge can be trusted")
quality = verdicts_ui.quality()
if quality is None:
    ui.empty(f"No measured figures: `{trust.REGENERATE}` measures the judges on the judge benchmark.")
else:
    ui.table([t.row() for t in ([whole] if whole else []) + list(trusted.values())])
    env = ui.escape_md(project.config.env.name)
    st.caption(
        "Precision (of the examples a judge keeps, how many are good) and recall (of the good ones, how many it "
        "keeps), with 95% intervals and n, measured on the judge benchmark's labelled pairs (`data/judge_bench/`: "
        f"held-out reference solutions and hard negatives) in this project's environment ({env}) where it has "
        f"it, else pooled over its environments ({', '.join(quality.envs)}); on all pairs, though the grounding "
        "rule's settings were tuned on half of them (the file also holds the other half's figures). "
        f"From {trust.source(quality)}; "
        f"`{trust.REGENERATE}` measures them again."
    )

st.subheader("Agreement")
agreement = committee.agreement(store, judge_names)
if not agreement:
    ui.empty("Agreement needs at least two raters (judges, or a judge and your overrides).")
else:
    st.caption(
        "Pairs of raters on the examples both rated: percent agreement and Cohen's kappa "
        "(1 = perfect, 0 = chance). `human override` is your latest keep/drop per example."
    )
    table_col, chart_col = st.columns([1, 1])
    with table_col:
        ui.table(agreement)
    with chart_col:
        measure = st.radio("Heatmap of", ["agreement %", "kappa"], horizontal=True, key="agreement_measure")
        names, matrix = committee.agreement_matrix(agreement, measure)
        fig = px.imshow(
            matrix,
            x=names,
            y=names,
            text_auto=True,
            color_continuous_scale="Blues",
            zmin=0 if measure == "agreement %" else -1,
            zmax=100 if measure == "agreement %" else 1,
            aspect="auto",
        )
        fig.update_layout(height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10})
        st.plotly_chart(fig, width="stretch")
ui.share_link(
    "committee",
    example=st.session_state.get("committee_pick"),
    show=None if show == "all" else show,
    search=search or None,
    leaks=1 if only_flagged else None,
)
