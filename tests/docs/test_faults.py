"""Bad documents through the store-level path (`lbi.docs.ingest.add_source` / `add_upload`), into a project
that already holds good documents and tasks: empty, binary, 50 MB, invalid encodings (contents and file
names), a crawl that loops. Each comes back with a clear reason; nothing already stored changes.

The loaders' own behaviour on these inputs is tested in tests/test_docs.py; here the question is what a
project ends up with.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbi.docs.ingest import add_source, add_upload
from lbi.docs.load import DocsError
from lbi.project import Project
from tests.conftest import ROOT

GOOD = ROOT / "tests" / "fixtures" / "docs" / "guide.md"
FIFTY_MB = 50 * 1024 * 1024


def _snapshot(project: Project) -> dict[str, list[tuple]]:
    q = project.store.query
    return {
        "documents": [tuple(r) for r in q("SELECT id, source, text FROM documents ORDER BY id")],
        "chunks": [tuple(r) for r in q("SELECT id, doc_id, text FROM chunks ORDER BY id")],
        "tasks": [tuple(r) for r in q("SELECT id, instruction, chunk_id FROM tasks ORDER BY id")],
    }


@pytest.fixture
def filled(project: Project) -> Project:
    assert add_source(project, GOOD).documents == 1
    chunk = project.store.query("SELECT id FROM chunks LIMIT 1")[0][0]
    project.store.add_tasks([{"id": "t-1", "instruction": "Create a ticket", "env": "trac", "chunk_id": chunk}])
    return project


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("blank.txt", b"  \n\t\n", "empty file"),
        ("blob.dat", random.Random(1).randbytes(4096), "binary content (not text)"),
        ("image.png", b"\x89PNG\r\n\x1a\n" + bytes(2048), "binary file type (.png)"),
        ("nul.md", b"# Title\n\x00\x00\x00 text with NULs \x00" * 50, "binary content (not text)"),
        ("broken.pdf", b"%PDF-1.4\n garbage that is not a pdf", "unreadable PDF"),
    ],
)
def test_bad_files_are_skipped_with_a_reason_and_the_store_is_untouched(
    filled: Project, tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    before = _snapshot(filled)
    path = tmp_path / name
    path.write_bytes(content)
    report = add_source(filled, path)
    assert (report.documents, report.chunks) == (0, 0)
    assert len(report.skipped) == 1 and reason in report.skipped[0].reason
    assert "skipped" in report.summary()
    upload = add_upload(filled, name, content)
    assert upload.documents == 0 and upload.skipped[0].reason  # uploads are judged by content, not suffix
    assert _snapshot(filled) == before


def test_fifty_megabytes_on_disk_and_uploaded_are_refused_without_a_trace(filled: Project, tmp_path: Path) -> None:
    before = _snapshot(filled)
    big = tmp_path / "big.md"
    with big.open("wb") as handle:
        handle.truncate(FIFTY_MB)  # sparse file: 50 MB without writing them
    report = add_source(filled, big)
    assert report.documents == 0 and report.skipped[0].reason.startswith(f"too large: {FIFTY_MB} bytes")
    upload = add_upload(filled, "big.txt", b"word " * (FIFTY_MB // 5))
    assert upload.documents == 0 and "too large" in upload.skipped[0].reason
    assert _snapshot(filled) == before
    assert filled.store.path.stat().st_size < 5 * 1024 * 1024  # nothing of it reached the database


def test_a_folder_mixing_good_and_bad_files_stores_the_good_ones(filled: Project, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ok.md").write_text("# Milestones\n\nA milestone groups tickets for a release.\n")
    (folder / "empty.md").write_bytes(b"")
    (folder / "blob.dat").write_bytes(bytes(range(256)) * 8)
    with (folder / "big.txt").open("wb") as handle:
        handle.truncate(FIFTY_MB)
    (folder / "cp1252.txt").write_bytes("Priorité – café\n".encode("cp1252"))
    (folder / "utf16.txt").write_bytes("Composant é\n".encode("utf-16"))
    (folder / "mixed.txt").write_bytes(b"valid \xc3\xa9 then invalid \xff\xfe\xed\xa0\x80 bytes\n")
    # a file name that is not UTF-8 (Python sees lone surrogates in it)
    with open(os.path.join(os.fsencode(folder), b"caf\xe9-notes.txt"), "wb") as handle:
        handle.write(b"Notes about the roadmap page.\n")
    before = _snapshot(filled)

    report = add_source(filled, folder)

    reasons = {Path(s.source).name: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.md", "blob.dat", "big.txt"}
    assert report.documents == 5
    rows = {
        r["title"]: r
        for r in filled.store.query(
            "SELECT title, source, text, meta_json FROM documents WHERE id NOT IN (SELECT value FROM json_each(?))",
            (json.dumps([d[0] for d in before["documents"]]),),
        )
    }
    texts = " | ".join(r["text"] for r in rows.values())
    assert "Priorité – café" in texts and "Composant é" in texts and "then invalid" in texts  # never a crash
    assert any(r["source"].endswith("-notes.txt") and "\ufffd" in r["source"] for r in rows.values())
    for row in filled.store.query("SELECT source, title, text FROM documents"):  # all valid UTF-8
        for value in row:
            value.encode("utf-8")
    # the earlier content is untouched and re-adding is a no-op
    after = _snapshot(filled)
    assert set(before["documents"]) <= set(after["documents"]) and after["tasks"] == before["tasks"]
    again = add_source(filled, folder)
    assert again.documents == 0 and again.unchanged == 5


def test_a_missing_path_raises_a_typed_error_and_writes_nothing(filled: Project, tmp_path: Path) -> None:
    before = _snapshot(filled)
    with pytest.raises(DocsError, match="nowhere"):
        add_source(filled, tmp_path / "nowhere")
    with pytest.raises(DocsError):
        add_source(filled, "http://example.org/docs")  # off loopback: refused before any request
    assert _snapshot(filled) == before


class _Loop(http.server.BaseHTTPRequestHandler):
    """A site that loops: / → /a → /b → /, every page links to /n/<k+1> (endless), and /r1 ⇄ /r2 redirect."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Loop.hits.append(self.path)
        if self.path in ("/r1", "/r2"):
            self.send_response(302)
            self.send_header("Location", "/r2" if self.path == "/r1" else "/r1")
            self.end_headers()
            return
        k = int(self.path.rsplit("/", 1)[1]) if self.path.startswith("/n/") else 0
        nxt = {"/": "/a", "/a": "/b", "/b": "/"}.get(self.path, "/")
        body = (
            f"<html><head><title>Page {self.path}</title></head><body><h1>Page {self.path}</h1>"
            f"<p>Text of page {self.path} about tickets and milestones.</p>"
            f"<a href='{nxt}'>next</a> <a href='/n/{k + 1}'>deeper</a> <a href='/r1'>redirect</a>"
            f"<a href='{self.path}#again'>self</a></body></html>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def looping_site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Loop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Loop.hits = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.timeout(60)
def test_a_looping_crawl_terminates_and_stores_each_page_once(filled: Project, looping_site: str) -> None:
    before = _snapshot(filled)
    report = add_source(filled, looping_site + "/", max_depth=50, max_pages=20, timeout=5)
    pages = [h for h in _Loop.hits if h not in ("/r1", "/r2")]
    assert len(pages) == len(set(pages)) <= 20  # bounded, and no page fetched twice
    assert len(_Loop.hits) - len(pages) <= 12  # the redirect loop is cut by urllib's hop limit
    assert 3 <= report.documents <= 20
    assert any("page limit" in s.reason for s in report.skipped)
    assert any(s.source.endswith("/r1") and "infinite loop" in s.reason for s in report.skipped)
    sources = [r[0] for r in filled.store.query("SELECT source FROM documents")]
    assert len(sources) == len(set(sources)) == report.documents + len(before["documents"])
    again = add_source(filled, looping_site + "/", max_depth=50, max_pages=20, timeout=5)
    assert again.documents == 0 and again.unchanged == report.documents
    after = _snapshot(filled)
    assert set(before["documents"]) <= set(after["documents"]) and after["tasks"] == before["tasks"]
