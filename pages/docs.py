"""Docs: add documentation sources, browse documents and chunks, generate and curate tasks."""

from pathlib import Path

import streamlit as st

from lbi import ui
from lbi.docs.ingest import IngestReport, add_upload, import_tasks
from lbi.docs.load import DocsError
from lbi.envs.tasks import TaskFileError
from lbi.store import read

MAX_PICKED_CHUNKS = 10

project = ui.setup("Docs and tasks")
store = project.store


def show_report(report: IngestReport) -> None:
    st.success(report.summary())
    for skipped in report.skipped:
        ui.text(f"skipped {skipped.source}: {skipped.reason}")


st.subheader("Add documentation")
by_path, upload, crawl, task_file = st.tabs(["File or folder", "Upload", "Crawl a loopback URL", "Import task file"])
with by_path:
    path = st.text_input("Path", placeholder="/usr/share/doc/sqlite3 or docs/guide.md", key="docs_path")
    if st.button("Add path", type="primary", disabled=not path.strip()):
        ui.start_job(project, ["docs", "add", str(Path(path.strip()).expanduser())], "docs-add")
    ui.job_panel("docs-add")
with upload:
    files = st.file_uploader("Markdown, reStructuredText, HTML, text, wiki or PDF", accept_multiple_files=True)
    if st.button("Add uploaded files", disabled=not files):
        for file in files or []:
            try:
                show_report(add_upload(project, file.name, file.getvalue()))
            except DocsError as exc:
                st.error(str(exc))
with crawl:
    url = st.text_input("URL on 127.0.0.1 or localhost", placeholder="http://127.0.0.1:8000/wiki", key="crawl_url")
    depth, pages = st.columns(2)
    max_depth = depth.number_input("Max depth", 0, 10, 2)
    max_pages = pages.number_input("Max pages", 1, 2000, 50)
    if st.button("Crawl in the background", disabled=not url.strip().startswith("http")):
        ui.start_job(
            project, ["docs", "add", url.strip(), "--max-depth", str(max_depth), "--max-pages", str(max_pages)], "crawl"
        )
    ui.job_panel("crawl")
with task_file:
    task_path = st.text_input("Task file or folder (JSONL, JSON or TOML; held-out by default)", key="task_file")
    if st.button("Import tasks", disabled=not task_path.strip()):
        try:
            n_read, added = import_tasks(project, task_path.strip())
        except TaskFileError as exc:
            st.error(str(exc))
        else:
            st.success(f"{n_read} tasks read, {added} new.")

st.subheader("Documents")
link = ui.from_link("docs", {"doc": ("doc_pick", str), "task": ("task_pick", str)})
documents = read.documents(store)
if not documents:
    ui.empty("No documents yet — add a file or folder above, upload files, or run `lbi docs add PATH`.")
else:
    ui.table(documents)
    labels = {d["id"]: f"{d['title'] or d['id']} ({d['chunks']} chunks)" for d in documents}
    if st.session_state.get("doc_pick") not in (None, *labels):
        st.warning(f"There is no document {ui.escape_md(st.session_state['doc_pick'])}.")
        del st.session_state["doc_pick"]
    doc_id = st.selectbox("Open a document", list(labels), format_func=labels.__getitem__, key="doc_pick")
    doc_chunks = read.chunks(store, doc_id)
    st.caption(f"{len(doc_chunks)} chunks")
    ui.table([{k: c[k] for k in ("ordinal", "title", "tasks", "id")} | {"text": c["text"][:300]} for c in doc_chunks])
    chunk_labels = {c["id"]: f"#{c['ordinal']} {c['title'] or ''}".strip() for c in doc_chunks}
    picked = st.multiselect(
        "Chunks to generate tasks from",
        list(chunk_labels),
        format_func=chunk_labels.__getitem__,
        max_selections=MAX_PICKED_CHUNKS,
        key="chunk_pick",
    )
    if picked:
        with st.expander(f"Text of {len(picked)} selected chunk(s)"):
            for chunk in (c for c in doc_chunks if c["id"] in picked):
                st.code(chunk["text"], language=None, wrap_lines=True)
    gen_col, bg_col = st.columns(2)
    if gen_col.button("Generate tasks from selected chunks", type="primary", disabled=not picked):
        ui.start_job(
            project, ["tasks", "generate", *(arg for chunk in picked for arg in ("--chunk", chunk))], "generate"
        )
    if bg_col.button("Generate for every chunk without tasks"):
        ui.start_job(project, ["tasks", "generate"], "generate")
    ui.job_panel("generate")

st.subheader("Tasks")
filter_col, search_col = st.columns([1, 3])
split = filter_col.selectbox("Split", ["all", "synthetic", "heldout"], key="task_split")
search = search_col.text_input("Search instructions", key="task_search")
task_rows = read.task_rows(store, None if split == "all" else split, search)
if not task_rows:
    ui.empty("No tasks yet — select chunks above and generate tasks, import a task file, or run `lbi tasks generate`.")
    ui.share_link("docs", doc=st.session_state.get("doc_pick"))
    st.stop()
st.caption(f"{len(task_rows)} tasks")
ui.table(task_rows[:1000])
by_id = {t["id"]: t for t in task_rows[:1000]}
if st.session_state.get("task_pick") not in (None, *by_id):
    if "task" in link:
        st.warning(f"Task {ui.escape_md(link['task'])} is not in this list (check the split and the search).")
    del st.session_state["task_pick"]
task_id = st.selectbox(
    "Edit a task",
    list(by_id),
    key="task_pick",
    format_func=lambda t: f"{by_id[t]['instruction'][:100]} [{by_id[t]['split']}]",
)
task = by_id[task_id]
with st.form(f"edit-{task_id}"):
    instruction = st.text_area("Instruction", task["instruction"])
    heldout = st.toggle(
        "Held-out (never rolled out for synthesis; used for evaluation)", value=task["split"] == "heldout"
    )
    if st.form_submit_button("Save task", type="primary"):
        store.update_task(
            task_id, instruction=instruction.strip() or task["instruction"], split="heldout" if heldout else "synthetic"
        )
        st.rerun()
confirm = st.checkbox("Yes, delete this task", key=f"confirm-{task_id}")
if st.button("Delete task", disabled=not confirm):
    store.delete_tasks([task_id])
    st.rerun()
ui.share_link("docs", doc=st.session_state.get("doc_pick"), task=task_id)
