"""The panels of the curation pages (Review, Clusters): an example under review, a bulk decision with its preview
and undo, and an example's lineage. Like `lbi.ui`, data is shown as text, code or tables, never as Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import streamlit as st

from lbi import ui
from lbi.curate import bulk
from lbi.project import Project
from lbi.store import clusters, lineage, queues
from lbi.store.committee import Judges, yes_of
from lbi.store.db import Store

BULK_SAMPLE_SHOWN = 10


@st.cache_data(max_entries=16, show_spinner=False)
def cluster_summary(
    _store: Store, path: str, stamp: tuple[Any, ...], *, policy: str, judges: Judges, min_size: int, search: str
) -> list[dict[str, Any]]:
    """`clusters.summary`, read again only when the store's `committee.stamp` changes (it reads every decision: a
    few seconds at 100k examples)."""
    return clusters.summary(_store, policy=policy, judges=judges, min_size=min_size, search=search)


def example_header(ex: dict[str, Any], judges: Judges, policy: str) -> None:
    """An example's number, decision, votes and span in one line of metrics."""
    decision = ex["decision"] or {}
    cols = st.columns(4)
    cols[0].metric("Example", f"#{ex['id']}")
    cols[1].metric(
        f"Decision ({policy})",
        "kept" if decision.get("kept") else "dropped",
        help="A human override always wins; then the policy and near-duplicates decide.",
    )
    cols[2].metric("Voting judges saying yes", yes_of(decision, judges))
    cols[3].metric("Span", f"{ex['span_start']}–{ex['span_end']}")
    live = decision.get("override")
    st.caption(
        f"Trajectory {ex['trajectory_id']} · env {ex['env']} · mode {ex['mode']} · run "
        f"{ui.escape_md(ex['run'] or '—')} · override {live or 'none'}"
        + (" · a near-duplicate of a kept example" if decision.get("duplicate") else "")
        + (" · kept out by the leakage check" if decision.get("leaked") else "")
    )


def history(ex: dict[str, Any]) -> None:
    """Overrides (undone ones marked) and instruction edits of an example, newest first."""
    if ex["overrides"]:
        with st.expander(f"Overrides ({len(ex['overrides'])}; the newest not undone wins)"):
            ui.table(
                [
                    {
                        "verdict": o["verdict"],
                        "note": o["note"],
                        "who": o["who"],
                        "at": o["at"],
                        "batch": o["batch"] or "",
                        "undone": f"{o['undone_at']} by {o['undone_by']}" if o["undone_at"] else "",
                    }
                    for o in ex["overrides"]
                ]
            )
    if ex["edits"]:
        with st.expander(f"Instruction edits ({len(ex['edits'])})"):
            ui.table(ex["edits"])


VERDICTS: tuple[Literal["drop", "keep"], ...] = ("drop", "keep")


def bulk_panel(store: Store, ids: Sequence[int], *, key: str, what: str, policy: str, judges: Judges) -> None:
    """A keep or drop with one note over `ids` (`what` names them): Preview shows what it would change, Apply
    records it as one batch, which can be undone as one; the recent batches below, each undoable."""
    ids = list(ids)
    verdict_col, note_col = st.columns([1, 3], vertical_alignment="bottom")
    verdict = verdict_col.radio("Decision", VERDICTS, horizontal=True, key=f"{key}-verdict")
    note = note_col.text_input("Note (why; recorded with every override)", key=f"{key}-note")
    plan: bulk.BulkPlan | None = st.session_state.get(f"{key}-plan")
    if plan is not None and (plan.ids != ids[: len(plan.ids)] or plan.verdict != verdict or plan.note != note):
        plan = st.session_state[f"{key}-plan"] = None  # the selection or the decision changed: preview again
    if st.button(f"Preview: {verdict} {len(ids)} examples ({what})", key=f"{key}-preview", disabled=not ids):
        plan = st.session_state[f"{key}-plan"] = bulk.plan(
            store,
            ids,
            verdict,
            note=note,
            policy=policy,
            judges=judges,
        )
    if plan is not None:
        st.info(ui.escape_md(plan.summary) + ". Nothing is recorded until you apply it.")
        ui.table(
            plan.sample[:BULK_SAMPLE_SHOWN], column_config={"instruction": st.column_config.TextColumn(width="large")}
        )
        if len(plan.ids) > BULK_SAMPLE_SHOWN:
            st.caption(f"… and {len(plan.ids) - BULK_SAMPLE_SHOWN} more.")
        if st.button(f"Apply: {plan.verdict} {len(plan.ids)} examples", type="primary", key=f"{key}-apply"):
            batch = bulk.apply(store, plan, who=ui.who())
            st.session_state[f"{key}-plan"] = None
            st.session_state[f"{key}-done"] = (batch, len(plan.ids), plan.verdict)
            st.rerun()
    done = st.session_state.get(f"{key}-done")
    if done:
        batch, count, done_verdict = done
        recorded = "1 override" if count == 1 else f"{count} overrides"
        st.success(f"Recorded {recorded} ({done_verdict}) as batch {ui.escape_md(batch)}.")
        if st.button("Undo this bulk decision", key=f"{key}-undo-last"):
            undone = bulk.undo(store, batch, who=ui.who())
            st.session_state[f"{key}-done"] = None
            st.toast(f"Undid {undone} overrides of {batch}.")
            st.rerun()
    recent = queues.batches(store)
    if recent:
        with st.expander(f"Recent bulk decisions ({len(recent)})"):
            ui.table(recent)
            pick_col, undo_col = st.columns([3, 1], vertical_alignment="bottom")
            live = [b["batch"] for b in recent if b["undone"] < b["examples"]]
            chosen = pick_col.selectbox("Bulk decision", live, key=f"{key}-batch", disabled=not live)
            if undo_col.button("Undo it", key=f"{key}-undo", disabled=not live) and chosen:
                undone = bulk.undo(store, chosen, who=ui.who())
                st.toast(f"Undid {undone} overrides of {chosen}.")
                st.rerun()


def lineage_panel(project: Project, example_id: int, *, policy: str, judges: Judges) -> None:
    """Where the example came from and where it went, top to bottom, with links to the pages that show each part."""
    info = lineage.lineage(project.store, example_id, policy=policy, judges=judges)
    if info is None:
        ui.empty("This example is gone.")
        return
    ui.table(
        lineage.summary(info), column_config={"what": st.column_config.TextColumn(width="large")}, height="content"
    )
    if info["chunk"]:
        with st.expander("The doc chunk the task was generated from"):
            st.code(
                info["chunk"]["text"] + ("…" if info["chunk"]["chars"] > lineage.CHUNK_PREVIEW else ""),
                language=None,
                wrap_lines=True,
            )
    ex = info["example"]
    links = st.columns(3)
    links[0].page_link(
        "pages/backward.py",
        label="This span on the Backward page",
        icon=":material/grid_on:",
        query_params={
            "trajectory": ex["trajectory_id"],
            "span": f"{ex['span_start']}-{ex['span_end']}",
            "mode": ex["mode"],
        },
    )
    links[1].page_link(
        "pages/rollouts.py",
        label="The trajectory on the Rollouts page",
        icon=":material/movie:",
        query_params={"trajectory": ex["trajectory_id"], "step": ex["span_start"]},
    )
    evaluated = [run for run in info["training"] if run["evaluation"]]
    arms = [arm["arm"] for arm in evaluated[-1]["evaluation"]] if evaluated else []  # the newest run's evaluation
    if arms:
        links[2].page_link(
            "pages/evaluation.py",
            label=f"Its evaluation ({ui.escape_md(arms[0])})",
            icon=":material/leaderboard:",
            query_params={"arm": arms[0]},
        )
