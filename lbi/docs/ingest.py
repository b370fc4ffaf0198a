"""Put resources into a project: documentation (load → chunk → store, with a report of what was skipped)
and task files (held-out tasks with their checks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lbi.docs.load import LoadResult, Skipped, chunk_document, load, load_bytes
from lbi.project import Project


@dataclass
class IngestReport:
    documents: int = 0
    chunks: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.documents} new documents, {self.chunks} chunks, {self.unchanged} already present"
        return text + (f", {len(self.skipped)} skipped" if self.skipped else "")


def _store(project: Project, result: LoadResult, *, size: int, overlap: int) -> IngestReport:
    report = IngestReport(skipped=list(result.skipped))
    for doc in result.documents:
        chunks = chunk_document(doc, size=size, overlap=overlap)
        row = doc.model_dump()
        row["meta_json"] = row.pop("meta")
        added = project.store.add_document(row, [c.model_dump() for c in chunks])
        if added:
            report.documents += 1
            report.chunks += len(chunks)
        else:
            report.unchanged += 1
    return report


def add_source(
    project: Project, source: str | Path, *, size: int = 1500, overlap: int = 200, **options: object
) -> IngestReport:
    """Load a file, a folder, or a loopback URL (crawled) into the project's store."""
    return _store(project, load(str(source), **options), size=size, overlap=overlap)


def add_upload(project: Project, name: str, data: bytes, *, size: int = 1500, overlap: int = 200) -> IngestReport:
    """Load uploaded bytes (e.g. from the Docs page) into the project's store."""
    return _store(project, load_bytes(name, data), size=size, overlap=overlap)


def import_tasks(project: Project, path: str | Path) -> tuple[int, int]:
    """Store the tasks of a task file or folder (full spec kept for checks); return (read, new)."""
    from lbi.envs.tasks import check_env_of, load_tasks, task_rows

    path = Path(path).expanduser()
    tasks = load_tasks(path)
    check_env_of(tasks, project.config.env.name, path.name)
    return len(tasks), project.store.add_tasks(task_rows(tasks))
