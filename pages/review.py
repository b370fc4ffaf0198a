"""Review: pick a queue (filtered out, kept, judges disagree, one judge said no, a search, a cluster, a trajectory, a
bulk decision, the leak flags) and go through it one example at a time with the keyboard, or decide over all of it at
once. Each example shows its judges' verdicts with how far each judge can be trusted (the judge benchmark's figures)
and its leak flag, with Allow / Keep out, as the Committee page does; in the leak flags queue, what the flag matched,
and Allow (A) / Keep out (O) are the keys that decide."""

from typing import Literal

import streamlit as st

from lbi import curation_ui, steps_ui, ui, verdicts_ui
from lbi.curate.review import Review
from lbi.store import committee, leaks, queues, read
from lbi.store.queues import QUEUES, QueueSpec
from lbi.synth import trust

MAX_ROWS = 5000
SHORTCUTS = {"keep": "K", "drop": "D", "allow": "A", "block": "O", "skip": "S", "back": "B", "undo": "U"}

project = ui.setup("Review")
store = project.store
voters = trust.voters(project.config)

if not store.counts()["examples"]:
    ui.empty(
        "No examples yet — roll out (Rollouts page), label spans (Backward page or `lbi backward`) and run the "
        "committee (`lbi filter`); then review what it kept and filtered out here."
    )
    st.stop()


def _kind(value: str) -> str:
    if value not in QUEUES:
        raise ValueError(value)
    return value


st.session_state.setdefault("rv_policy", project.config.synth.judge_policy)
st.session_state.setdefault("rv_view", "One at a time")
link = ui.from_link(
    "review",
    {
        "view": ("rv_view", lambda v: "Bulk" if v == "bulk" else "One at a time"),
        "queue": ("rv_kind", _kind),
        "policy": ("rv_policy", committee.check_policy),
        "search": ("rv_search", str),
        "cluster": ("rv_cluster", int),
        "trajectory": ("rv_traj", int),
        "batch": ("rv_batch", str),
        "unreviewed": ("rv_unreviewed", lambda v: v in ("1", "true", "yes")),
        "leaks": ("rv_leaks", leaks.check_review_state),
        "example": (None, int),
    },
)

cols = st.columns([2, 1, 2.5, 1, 1.9], vertical_alignment="bottom")  # room for the toggle's label
kind = cols[0].selectbox("Queue", list(QUEUES), format_func=QUEUES.__getitem__, key="rv_kind")
policy = cols[1].selectbox("Policy", committee.POLICIES, key="rv_policy", disabled=kind not in ("filtered", "kept"))
search = cols[2].text_input("Search instructions", key="rv_search", placeholder="narrows any queue")
spec = QueueSpec(kind=kind, policy=policy, search=search.strip())
if kind == "cluster":
    spec.cluster = int(cols[3].number_input("Cluster", 0, key="rv_cluster"))
elif kind == "trajectory":
    spec.trajectory = int(cols[3].number_input("Trajectory", 0, key="rv_traj"))
elif kind == "batch":
    spec.batch = cols[3].selectbox("Batch", [b["batch"] for b in queues.batches(store, 200)], key="rv_batch") or ""
elif kind == "leaks":
    spec.leaks = (
        cols[3].selectbox(
            "Which flags",
            list(leaks.REVIEW_STATES),
            format_func=lambda state: state.replace("-", " "),
            key="rv_leaks",
            help="all: every flag, the undecided first · undecided: no person's decision yet · allowed, kept out: "
            "by a person's newest decision",
        )
        or "all"
    )
spec.unreviewed = cols[4].toggle(
    "Not reviewed yet", key="rv_unreviewed", help="Leave out the examples with a human override already."
)

review: Review | None = st.session_state.get("rv_review")
if review is None or review.spec != spec:
    review = st.session_state["rv_review"] = Review.open(store, spec, voters, at=link.get("example"))
elif "example" in link:
    review.go_to(link["example"])

view = st.segmented_control("View", ["One at a time", "Bulk"], key="rv_view") or "One at a time"

if view == "Bulk":
    st.caption(f"{ui.escape_md(spec.label())}: {review.total} examples.")
    rows = queues.queue_rows(store, review.ids[:MAX_ROWS], policy=spec.policy, judges=voters)
    if not rows:
        ui.empty("Nothing in this queue.")
    else:
        event = st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            key="rv_rows",
            on_select="rerun",
            selection_mode="multi-row",
            column_config={
                "kept": st.column_config.CheckboxColumn("kept"),
                "instruction": st.column_config.TextColumn(width="large"),
            },
        )
        if review.total > MAX_ROWS:
            st.caption(f"The first {MAX_ROWS} of {review.total} are listed; the whole queue is decided over all.")
        picked = [rows[i]["id"] for i in event.selection.rows] if event else []
        scope = st.radio(
            "Decide over",
            ["the whole queue", "the selected rows"],
            horizontal=True,
            key="rv_scope",
            index=1 if picked else 0,
        )
        ids = picked if scope == "the selected rows" else review.ids
        curation_ui.bulk_panel(
            store,
            ids,
            key="rv_bulk",
            what=spec.label() if scope == "the whole queue" else "selected rows",
            policy=spec.policy,
            judges=voters,
        )
    ui.share_link("review", **spec.params(), view="bulk")
    st.stop()


def _act(action: str) -> None:
    """A button's (or its shortcut's) action, run before the page is drawn again."""
    current: Review = st.session_state["rv_review"]
    before = current.current
    note = st.session_state.get("rv_note", "").strip()
    if action in ("keep", "drop") and before is not None:
        verdict: Literal["keep", "drop"] = "keep" if action == "keep" else "drop"
        current.decide(store, verdict, who=ui.who(), note=note)
        st.session_state["rv_flash"] = f"#{before} → {action}"
    elif action in ("allow", "block") and before is not None:
        leak: Literal["allow", "block"] = "allow" if action == "allow" else "block"
        current.decide_leak(store, leak, who=ui.who(), note=note)
        st.session_state["rv_flash"] = f"#{before} → " + (
            "allowed despite the leak flag" if leak == "allow" else "kept out as a leak"
        )
    elif action == "skip" and before is not None:
        current.skip()
    elif action == "back":
        current.move(-1)
    elif action == "undo":
        undone = current.undo(store, who=ui.who())
        what = {"block": "keep out"}.get(undone.kind, undone.kind) if undone else ""
        st.session_state["rv_flash"] = f"Undid {what} on #{undone.example_id}" if undone else "Nothing to undo"
    st.session_state["rv_note"] = ""


position, total = review.position, review.total
st.progress(
    min(position, total) / total if total else 1.0,
    text=f"{ui.escape_md(spec.label())} · example {min(position + 1, total)} of {total} · "
    f"{review.decided} decided here",
)
leak_queue = kind == "leaks"  # deciding here is on the leak flag: allow it or keep it out, not keep/drop
buttons = st.columns([1, 1.4 if leak_queue else 1, 1, 1, 1, 3.6 if leak_queue else 4], vertical_alignment="bottom")
current = review.current
for col, (label, action) in zip(
    buttons[:2],
    [("Allow", "allow"), ("Keep out", "block")] if leak_queue else [("Keep", "keep"), ("Drop", "drop")],
    strict=True,
):
    col.button(
        label,
        key=f"rv_{action}",
        type="primary" if action in ("keep", "allow") else "secondary",
        shortcut=SHORTCUTS[action],
        on_click=_act,
        args=(action,),
        disabled=current is None,
        width="stretch",
    )
buttons[2].button(
    "Skip",
    key="rv_skip",
    shortcut=SHORTCUTS["skip"],
    on_click=_act,
    args=("skip",),
    disabled=current is None,
    width="stretch",
)
buttons[3].button(
    "Back",
    key="rv_back",
    shortcut=SHORTCUTS["back"],
    on_click=_act,
    args=("back",),
    disabled=position == 0,
    width="stretch",
)
buttons[4].button(
    "Undo",
    key="rv_undo",
    shortcut=SHORTCUTS["undo"],
    on_click=_act,
    args=("undo",),
    disabled=not review.actions,
    width="stretch",
)
decides = "allow or keep out" if leak_queue else "keep or drop"
buttons[5].text_input("Note (why)", key="rv_note", placeholder=f"recorded with your {decides}")
if leak_queue:
    st.caption(
        f"Keys: A allow · O keep out · S skip · B back · U undo. Recorded as {ui.escape_md(ui.who())} (change it in "
        "the sidebar); every allow or keep out is a decision on the leak flag (as `lbi leakage allow|block`), with "
        "who, when and your note. Keep or drop in the other queues."
    )
else:
    st.caption(
        f"Keys: K keep · D drop · S skip · B back · U undo. Recorded as {ui.escape_md(ui.who())} (change it in "
        "the sidebar); every keep or drop is an override, with who, when and your note. The leak flags queue "
        "decides on leak flags with A allow · O keep out."
    )
if flash := st.session_state.pop("rv_flash", None):
    st.toast(flash)

if current is None:
    if total:
        st.success(f"Done: the end of this queue ({review.decided} decided here). Undo (U) takes back the last one.")
    else:
        ui.empty("Nothing in this queue — pick another, or clear the search.")
    ui.share_link("review", **spec.params())
    st.stop()

ex = read.example(store, current, policy=spec.policy, judges=voters)
if ex is None:
    st.warning("This example is gone from the store; Skip (S) goes on.")
    st.stop()
curation_ui.example_header(ex, voters, spec.policy)
if leak_queue:
    verdicts_ui.leak_matches(store, ex)
else:
    verdicts_ui.leak_decision(store, ex, note_key="rv_note", flash_key="rv_flash")
with st.form(f"rv_edit-{current}", border=False):
    text = st.text_area(
        "Instruction (edit it and save; the old one is kept in its history)",
        ex["instruction"],
        key=f"rv_text-{current}",
        height=80,
    )
    if st.form_submit_button("Save instruction") and review.edit(store, text, who=ui.who()):
        st.rerun()
verdicts_ui.example_verdicts(project, ex, spec.policy)
curation_ui.history(ex)
st.subheader(f"Steps {ex['span_start']}–{ex['span_end']}")
steps_ui.span_view(store, ex, project.dir, open_steps=2)
with st.expander("Lineage: where this example came from and where it went"):
    curation_ui.lineage_panel(project, current, policy=spec.policy, judges=voters)
ui.share_link("review", **spec.params(), example=current)
