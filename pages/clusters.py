"""Clusters: the instructions grouped by meaning (a background job), each cluster with its size, representative and
how the committee treated it, near-duplicates side by side; review a cluster or decide over it at once."""

import streamlit as st

from lbi import curation_ui, ui
from lbi.curate.clusters import METHODS, THRESHOLDS
from lbi.store import clusters, committee
from lbi.store.queues import QueueSpec
from lbi.synth import trust

project = ui.setup("Clusters")
store = project.store
voters = trust.voters(project.config)

if not store.counts()["examples"]:
    ui.empty("No examples yet — once backward construction has made some, cluster their instructions here.")
    st.stop()

link = ui.from_link("clusters", {"cluster": ("cl_pick", int), "search": ("cl_search", str)})
latest = clusters.latest(store)

with st.expander("Cluster the instructions", expanded=latest is None, icon=":material/hub:"):
    with st.form("cl_start"):
        cols = st.columns(3)
        method = cols[0].radio(
            "Vectors",
            METHODS,
            horizontal=True,
            key="cl_method",
            help="minilm: the project's sentence embedder (reuses the vectors the committee "
            "stored; embeds the rest) · hashing: words and word pairs, no model (fast)",
        )
        threshold = cols[1].number_input(
            "Join below cosine distance (0: the method's default)",
            0.0,
            2.0,
            0.0,
            step=0.05,
            key="cl_threshold",
            help=f"Defaults: {', '.join(f'{k} {v}' for k, v in THRESHOLDS.items())}",
        )
        near_dup = cols[2].number_input(
            "Near-duplicates at cosine similarity (0: synth.dedup_threshold)",
            0.0,
            1.0,
            0.0,
            step=0.01,
            key="cl_near_dup",
        )
        st.caption("Runs in the background; the newest clustering replaces the one before.")
        if st.form_submit_button("Cluster in the background", type="primary"):
            ui.start_job(
                project,
                ["curate", "cluster", "--method", method, "--threshold", str(threshold), "--near-dup", str(near_dup)],
                "cluster",
            )
    ui.job_panel("cluster")

ui.running_now(store, "cluster")
if latest is None:
    ui.empty("No clusters yet — start a clustering above (or `lbi curate cluster`).")
    ui.share_link("clusters")
    st.stop()

settings = latest["config"]
st.caption(
    f"Clustering {ui.escape_md(latest['name'])} ({latest['status']}, {latest['updated_at'][:16]}): "
    f"{latest['examples']} examples in {latest['clusters']} clusters · vectors {settings.get('method')} · "
    f"distance ≤ {settings.get('threshold')} · near-duplicates at ≥ {settings.get('near_dup')}. "
    "Examples made since are in no cluster until the next clustering."
)

view_cols = st.columns([1, 1, 3], vertical_alignment="bottom")
policy = view_cols[0].selectbox(
    "Policy", committee.POLICIES, key="cl_policy", index=committee.POLICIES.index(project.config.synth.judge_policy)
)
min_size = view_cols[1].number_input("Smallest cluster shown", 1, 1_000_000, 2, key="cl_min_size")
search = view_cols[2].text_input("Clusters with an instruction containing", key="cl_search")
rows = curation_ui.cluster_summary(
    store,
    str(store.path),
    committee.stamp(store),
    policy=policy,
    judges=voters,
    min_size=int(min_size),
    search=search.strip(),
)
if not rows:
    ui.empty("No cluster this large (or matching the search): lower the smallest size, or clear the search.")
    ui.share_link("clusters", search=search.strip() or None)
    st.stop()
st.caption(
    f"{len(rows)} {'cluster' if len(rows) == 1 else 'clusters'} shown, the largest first; kept / dropped / "
    f"overridden under {policy}, from the verdicts and overrides of now."
)
ui.table(
    rows,
    column_config={
        "kept %": st.column_config.ProgressColumn("kept %", min_value=0, max_value=100, format="%.0f%%"),
        "near_dup_groups": st.column_config.NumberColumn("near-duplicate groups"),
        "instruction": st.column_config.TextColumn("representative", width="large"),
    },
    column_order=["cluster", "size", "near_dup_groups", "kept", "dropped", "overridden", "kept %", "instruction"],
)

by_id = {r["cluster"]: r for r in rows}
if link.get("cluster") is not None and link["cluster"] not in by_id:
    st.warning(f"Cluster {link['cluster']} is not among those shown (it may be smaller than the smallest size).")
if st.session_state.get("cl_pick") not in by_id:
    st.session_state["cl_pick"] = rows[0]["cluster"]
pick = st.selectbox(
    "Open a cluster",
    list(by_id),
    key="cl_pick",
    format_func=lambda c: f"#{c} · {by_id[c]['size']} examples · {by_id[c]['instruction'][:90]}",
)
row = by_id[pick]
st.subheader(f"Cluster {pick}")
metrics = st.columns(5)
metrics[0].metric("Examples", row["size"])
metrics[1].metric("Kept", row["kept"])
metrics[2].metric("Dropped", row["dropped"])
metrics[3].metric("Overridden", row["overridden"])
metrics[4].metric("Near-duplicate groups", row["near_dup_groups"])
ui.labelled("Representative (closest to the cluster's centre)", row["instruction"])
st.page_link(
    "pages/review.py",
    label="Review this cluster one example at a time",
    icon=":material/rate_review:",
    query_params=QueueSpec(kind="cluster", cluster=pick, policy=policy).params(),
)

members = clusters.members(store, pick, policy=policy, judges=voters)
st.caption("Near-identical instructions (one group) are listed together, the largest groups first.")
event = st.dataframe(
    members,
    hide_index=True,
    width="stretch",
    key=f"cl_rows-{pick}",
    on_select="rerun",
    selection_mode="multi-row",
    column_order=["group_id", "group_size", "score", "id", "instruction", "yes", "override", "kept"],
    column_config={
        "group_id": st.column_config.NumberColumn("group"),
        "group_size": st.column_config.NumberColumn("in group"),
        "score": st.column_config.NumberColumn("closeness"),
        "kept": st.column_config.CheckboxColumn("kept"),
        "instruction": st.column_config.TextColumn(width="large"),
    },
)
picked = [members[i]["id"] for i in event.selection.rows] if event else []
st.subheader("Decide over the cluster")
scope = st.radio(
    "Decide over", ["the whole cluster", "the selected rows"], horizontal=True, key="cl_scope", index=1 if picked else 0
)
ids = picked if scope == "the selected rows" else [m["id"] for m in members]
curation_ui.bulk_panel(
    store,
    ids,
    key="cl_bulk",
    what=f"cluster {pick}" if scope == "the whole cluster" else "selected rows",
    policy=policy,
    judges=voters,
)
ui.share_link("clusters", cluster=pick, search=search.strip() or None)
