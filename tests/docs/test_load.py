"""Tests of lbi.docs: loaders for every format, detection, chunking, stable ids, bad input,
and a bounded crawl of a real local HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lbi.docs.crawl import is_loopback_host
from lbi.docs.load import (
    DocsError,
    Document,
    LoadResult,
    NotLoopbackError,
    chunk_document,
    chunk_documents,
    crawl,
    detect_format,
    load,
    load_bytes,
    load_path,
)

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "docs"


def _only(result: LoadResult) -> Document:
    assert not result.skipped, result.skipped
    assert len(result.documents) == 1
    return result.documents[0]


def _headings(text: str) -> list[str]:
    """Markdown heading lines outside code fences."""
    found, in_code = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.append(line)
    return found


def minimal_pdf(lines: list[str], title: str = "Tiny PDF") -> bytes:
    """A valid one-page PDF with Helvetica text, built by hand (correct xref offsets)."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) Tj T*" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Title ({title}) >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


# --------------------------------------------------------------------------- formats


def test_markdown_headings_code_and_front_matter() -> None:
    doc = _only(load_path(FIXTURES / "guide.md"))
    assert doc.format == "markdown"
    assert doc.title == "Getting Started"  # setext heading
    assert _headings(doc.text) == ["# Getting Started", "## Creating tickets", "### Ticket fields"]
    assert "layout: page" not in doc.text  # front matter dropped
    assert "See the docs." in doc.text  # link text kept, URL dropped
    assert "```\n# not a heading: inside a code fence" in doc.text
    assert "1. Open New Ticket.\n2. Fill in the summary." in doc.text
    assert "owner | who works on it" in doc.text


def test_rst_rendered_to_text() -> None:
    doc = _only(load_path(FIXTURES / "reference.rst"))
    assert (doc.format, doc.title) == ("rst", "Query Manual")
    assert _headings(doc.text) == ["# Query Manual", "## Filters", "### Sorting"]
    assert "Use `status=new` to find new tickets." in doc.text
    assert "SELECT id FROM ticket;" in doc.text
    assert "unknown-directive" not in doc.text and ".. " not in doc.text


def test_html_strips_boilerplate_keeps_title_and_code() -> None:
    doc = _only(load_path(FIXTURES / "page.html"))
    assert doc.format == "html"
    assert doc.title == "Roadmap – Demo Project"
    assert "BOILERPLATE" not in doc.text
    assert "¶" not in doc.text
    assert _headings(doc.text) == ["# The Roadmap", "## Milestones"]
    assert "The roadmap shows milestones and their progress." in doc.text
    assert "- Milestone 1.0 is due soon." in doc.text
    assert "trac-admin /env milestone list\n    indented line" in doc.text  # <pre> verbatim
    assert "Name | Due\n1.0 | May" in doc.text


def test_html_fragment_without_body() -> None:
    doc = _only(load_bytes("frag.html", b"<title>Frag</title><h2>Sec</h2><p>x <code>y</code></p><!-- c -->"))
    assert (doc.title, doc.text) == ("Frag", "## Sec\n\nx `y`")


def test_plain_text() -> None:
    doc = _only(load_path(FIXTURES / "notes.txt"))
    assert (doc.format, doc.title) == ("text", "Release notes")
    assert doc.text == (FIXTURES / "notes.txt").read_text().strip()


def test_trac_wiki_extensionless_file() -> None:
    doc = _only(load_path(FIXTURES / "TracExample"))
    assert (doc.format, doc.title) == ("trac", "Trac Example Page")
    assert _headings(doc.text) == ["# Trac Example Page", "## Creating a Ticket", "### Fields"]
    assert "PageOutline" not in doc.text and "[[" not in doc.text
    assert "links to the query page." in doc.text  # [wiki:TracQuery the query page]
    assert "See ticket docs." in doc.text  # [TracTickets ticket docs]
    assert "Click NewTicket" in doc.text  # !NewTicket escape removed
    assert "'''" not in doc.text and "tickets" in doc.text
    assert "```\ntrac-admin /path/to/env ticket list\n```" in doc.text
    assert "#!sh" not in doc.text
    assert "owner | who works on it" in doc.text


def test_trac_nested_blocks_comments_and_inline_code() -> None:
    text = (
        '= Top\n[[TracGuideToc]]\nUse `{{{` and {{{inline}}} or [[TracIni#ticket-section|"[ticket]"]].\n'
        "{{{#!comment\nsecret\n}}}\n{{{#!div style=\"x\"\nInside a '''div'''.\n}}}\n"
        "{{{\n{{{\nnested code\n}}}\n}}}\nafter\n"
    )
    doc = _only(load_bytes("Page", text.encode()))
    assert doc.format == "trac"
    assert "Use `{{{` and `inline` or [ticket]." in doc.text
    assert "secret" not in doc.text
    assert "Inside a div." in doc.text
    assert "```\n{{{\nnested code\n}}}\n```\n\nafter" in doc.text


def test_mediawiki() -> None:
    doc = _only(load_path(FIXTURES / "encyclopedia.mediawiki"))
    assert doc.format == "mediawiki"
    assert _headings(doc.text) == ["## History", "## Usage"]
    assert "The project started in 2003. See the main page." in doc.text
    assert "Category" not in doc.text and "{{" not in doc.text
    assert "- Install it" in doc.text


def test_pdf_loaded_with_pypdf(tmp_path: Path) -> None:
    pdf = tmp_path / "backup.pdf"
    pdf.write_bytes(minimal_pdf(["Backup your Trac environment", "with trac-admin hotcopy."]))
    doc = _only(load_path(pdf))
    assert (doc.format, doc.title, doc.meta["pages"]) == ("pdf", "Tiny PDF", 1)
    assert "Backup your Trac environment" in doc.text and "hotcopy" in doc.text


def test_broken_pdf_is_skipped_with_reason() -> None:
    data = minimal_pdf(["x"])
    result = load_bytes("broken.pdf", data[:150])
    assert not result.documents
    assert result.skipped[0].source == "upload:broken.pdf"
    assert "unreadable PDF" in result.skipped[0].reason


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("a.md", "anything", "markdown"),
        ("a.RST", "anything", "rst"),
        ("a.htm", "anything", "html"),
        ("a.pdf", "", "pdf"),
        ("a.mediawiki", "x", "mediawiki"),
        ("README", "# Title\n\nSome [link](http://x).\n", "markdown"),
        ("index", "<!DOCTYPE html><html><body><p>x</p></body></html>", "html"),
        ("snippet", "<div><p>hello</p></div>", "html"),
        ("blob", "%PDF-1.7\n...", "pdf"),
        ("TracFoo", "= Title\n[[PageOutline]]\nText with [wiki:Bar label].\n", "trac"),
        ("TracBar", "== Section ==\n{{{\ncode\n}}}\n", "trac"),
        ("Page", "== History ==\nThe '''x''' {{cite}} [[Category:Y]]\n", "mediawiki"),
        ("INSTALL", "Install\n=======\n\n.. note::\n   be careful\n", "rst"),
        ("notes.txt", "Just words.\n", "text"),
        ("LICENSE", "Permission is hereby granted, free of charge.\n", "text"),
        ("page.txt", "= Title =\n[[PageOutline]]\n{{{\ncode\n}}}\n", "trac"),
    ],
)
def test_detect_format(name: str, text: str, expected: str) -> None:
    assert detect_format(name, text) == expected


# --------------------------------------------------------------------------- sources


def test_folder_load_recursive_skips_hidden_and_reports_bad_files(tmp_path: Path) -> None:
    (tmp_path / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "sub" / "deeper" / "a.md").write_text("# A\n\nalpha\n")
    (tmp_path / "b.txt").write_text("bravo\n")
    (tmp_path / ".hidden.md").write_text("# hidden\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("[core]\n")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("   \n\n\t\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (tmp_path / "blob").write_bytes(bytes(range(256)) * 2)
    (tmp_path / "huge.txt").write_text("x" * 2000)

    result = load_path(tmp_path, max_bytes=1000)

    assert sorted(d.meta["relative_path"] for d in result.documents) == ["b.txt", "sub/deeper/a.md"]
    reasons = {Path(s.source).name: s.reason for s in result.skipped}
    assert set(reasons) == {"empty.md", "blank.txt", "image.png", "blob", "huge.txt"}
    assert reasons["empty.md"] == "empty file"
    assert reasons["blank.txt"] == "empty file"
    assert "binary" in reasons["image.png"] and "binary" in reasons["blob"]
    assert "too large: 2000 bytes > limit 1000" in reasons["huge.txt"]


def test_load_dispatches_paths_and_urls() -> None:
    assert _only(load(str(FIXTURES / "notes.txt"))).format == "text"
    with pytest.raises(NotLoopbackError):
        load("https://example.org/docs")


def test_missing_path_raises_typed_error(tmp_path: Path) -> None:
    with pytest.raises(DocsError, match="no such file"):
        load_path(tmp_path / "nope")


def test_upload_bytes_uses_name_for_format_and_source() -> None:
    doc = _only(load_bytes("guide.md", (FIXTURES / "guide.md").read_bytes()))
    assert doc.source == "upload:guide.md" and doc.format == "markdown"
    forced = _only(load_bytes("notes", b"# Not a heading here", fmt="text"))
    assert forced.format == "text"
    with pytest.raises(DocsError, match="unknown format"):
        load_bytes("x", b"y", fmt="docx")


def test_fifty_megabyte_file_rejected_without_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    with big.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # sparse: no 50 MB written to disk
    started = time.perf_counter()
    result = load_path(big)
    assert time.perf_counter() - started < 1.0
    assert not result.documents
    assert result.skipped[0].reason == f"too large: {50 * 1024 * 1024} bytes > limit {10 * 1024 * 1024}"
    upload = load_bytes("big.txt", b"a" * (50 * 1024 * 1024))
    assert "too large" in upload.skipped[0].reason


@pytest.mark.parametrize(
    ("data", "encoding", "expected"),
    [
        ("café naïve – ok\n".encode("cp1252"), "cp1252", "café naïve – ok"),
        (b"bad bytes \x81\x8d\x8f\x90\x9d here\n", "latin-1", "bad bytes"),
        ("\ufeffBOM text é\n".encode(), "utf-8-sig", "BOM text é"),
        ("utf-16 text é\n".encode("utf-16"), "utf-16", "utf-16 text é"),
        (b"mixed \xc3\xa9 and \xe9\n", "cp1252", "mixed"),
    ],
)
def test_invalid_encodings_never_crash(data: bytes, encoding: str, expected: str) -> None:
    doc = _only(load_bytes("notes.txt", data))
    assert doc.meta["encoding"] == encoding
    assert doc.text.startswith(expected)
    assert "\ufeff" not in doc.text


def test_deeply_nested_html_does_not_hit_recursion_limit() -> None:
    html = "<html><body>" + "<div>" * 5000 + "<p>deep text</p>" + "</div>" * 5000 + "</body></html>"
    doc = _only(load_bytes("deep.html", html.encode()))
    assert doc.text == "deep text"


def test_html_without_text_is_skipped() -> None:
    result = load_bytes("nav.html", b"<html><body><nav><a href='/'>Home</a></nav></body></html>")
    assert result.skipped[0].reason == "no text after conversion from html"


# --------------------------------------------------------------------------- ids and chunks


def test_ids_stable_across_reloads_and_sensitive_to_content(tmp_path: Path) -> None:
    first = load_path(FIXTURES)
    second = load_path(FIXTURES)
    assert [d.id for d in first.documents] == [d.id for d in second.documents]
    assert len({d.id for d in first.documents}) == len(first.documents) == 6
    assert [c.id for c in chunk_documents(first.documents)] == [c.id for c in chunk_documents(second.documents)]
    upload_a = _only(load_bytes("x.md", b"# T\n\nhello\n"))
    upload_b = _only(load_bytes("x.md", b"# T\n\nhello!\n"))
    assert upload_a.id != upload_b.id
    assert len(upload_a.id) == 16


def _long_doc(paragraphs: int = 12, words: int = 60) -> Document:
    body = "\n\n".join(" ".join(f"word{p}x{w}" for w in range(words)) + "." for p in range(paragraphs))
    return _only(load_bytes("long.txt", body.encode()))


def test_chunks_overlap_and_never_split_words() -> None:
    doc = _long_doc()
    chunks = chunk_document(doc, size=500, overlap=100)
    assert len(chunks) > 5
    words = set(doc.text.split())
    for previous, chunk in zip(chunks, chunks[1:], strict=False):
        assert chunk.start_char < previous.end_char  # overlap with the previous chunk
        assert previous.end_char - chunk.start_char <= 100
    for index, chunk in enumerate(chunks):
        assert chunk.ordinal == index
        assert chunk.text == doc.text[chunk.start_char : chunk.end_char]
        assert len(chunk.text) <= 500
        assert set(chunk.text.split()) <= words  # whole words only
    assert chunks[0].start_char == 0 and chunks[-1].end_char == len(doc.text)


def test_chunks_without_overlap_partition_the_text() -> None:
    doc = _long_doc()
    chunks = chunk_document(doc, size=400, overlap=0)
    rebuilt = " ".join(c.text for c in chunks).split()
    assert rebuilt == doc.text.split()


def test_chunk_titles_carry_heading_path() -> None:
    text = "# Guide\n\nintro\n\n## Install\n\n" + "step " * 200 + "\n\n### Linux\n\n" + "apt " * 200
    doc = _only(load_bytes("guide.md", text.encode()))
    titles = [c.title for c in chunk_document(doc, size=500, overlap=50)]
    assert titles[0] == "Guide"
    assert "Guide > Install" in titles
    assert titles[-1] == "Guide > Install > Linux"


def test_small_sections_are_merged() -> None:
    doc = _only(load_bytes("a.md", b"# A\n\none\n\n## B\n\ntwo\n\n## C\n\nthree\n"))
    chunks = chunk_document(doc)
    assert len(chunks) == 1 and chunks[0].text == doc.text and chunks[0].title == "A"


def test_one_huge_word_is_cut_but_terminates() -> None:
    doc = _only(load_bytes("token.txt", b"x" * 5000))
    chunks = chunk_document(doc, size=1000, overlap=100)
    assert all(len(c.text) <= 1000 for c in chunks)
    assert chunks[-1].end_char == 5000 and len(chunks) <= 6


def test_bad_chunk_arguments() -> None:
    doc = _long_doc(1, 5)
    with pytest.raises(ValueError):
        chunk_document(doc, size=100, overlap=100)
    with pytest.raises(ValueError):
        chunk_document(doc, size=0, overlap=0)


# --------------------------------------------------------------------------- crawl


class _Site(BaseHTTPRequestHandler):
    """An endless site: /p/N links to /p/N+1, /p/N+2, itself, the root and another origin."""

    requests: list[str] = []
    other_origin = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        type(self).requests.append(self.path)
        if self.path == "/redirect":
            self._send(302, "text/html", b"", location="http://example.com/")
        elif self.path == "/missing":
            self._send(404, "text/plain", b"not found")
        elif self.path == "/logo.bin":
            self._send(200, "application/octet-stream", bytes(range(256)))
        elif self.path == "/wiki.txt":
            self._send(200, "text/plain", b"= Wiki =\n[[PageOutline]]\n{{{\ncode\n}}}\n")
        elif self.path in {"/", "/index.html"}:
            links = [
                "/p/1",
                "/index.html",
                "/redirect",
                "/missing",
                "/logo.bin",
                "/wiki.txt",
                f"{self.other_origin}/",
                "http://example.com/x",
                "mailto:a@b.c",
                "#top",
            ]
            self._page("Home", links)
        elif self.path.startswith("/p/"):
            n = int(self.path.split("/")[-1])
            self._page(f"Page {n}", [f"/p/{n + 1}", f"/p/{n + 2}#frag", self.path, "/"])
        else:
            self._send(404, "text/plain", b"no")

    def _page(self, title: str, links: list[str]) -> None:
        anchors = "".join(f'<a href="{link}">{link}</a> ' for link in links)
        body = (
            f"<html><head><title>{title}</title></head><body><nav>{anchors}</nav>"
            f"<main><h1>{title}</h1><p>Content of {title}.</p><p>{anchors}</p></main></body></html>"
        )
        self._send(200, "text/html; charset=utf-8", body.encode())

    def _send(self, code: int, ctype: str, body: bytes, location: str | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        if location:
            self.send_header("Location", location)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return


class _Other(_Site):
    requests: list[str] = []


def _serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture()
def site() -> Iterator[str]:
    other, other_url = _serve(_Other)
    server, url = _serve(_Site)
    _Site.requests, _Other.requests = [], []
    _Site.other_origin = other_url
    yield url
    server.shutdown()
    other.shutdown()
    server.server_close()
    other.server_close()


@pytest.mark.timeout(30)
def test_crawl_of_endless_site_is_bounded_by_page_count(site: str) -> None:
    result = crawl(site + "/", max_depth=100, max_pages=12, timeout=5)
    assert len(_Site.requests) == 12
    assert len(set(_Site.requests)) == 12  # visited set: nothing fetched twice
    assert _Other.requests == []  # same origin only
    reasons = {s.source.removeprefix(site): s.reason for s in result.skipped}
    assert "too" not in " ".join(reasons.values())
    assert reasons["/redirect"].startswith("HTTP 302: redirect off origin to http://example.com/")
    assert reasons["/missing"].startswith("HTTP 404")
    assert reasons["/logo.bin"] == "unsupported content type application/octet-stream"
    assert reasons["/index.html"] == f"same content as {site}/"
    assert any("page limit 12 reached" in r for r in reasons.values())
    wiki = next(d for d in result.documents if d.source.endswith("/wiki.txt"))
    assert wiki.format == "trac"
    home = next(d for d in result.documents if d.source == site + "/")
    assert home.title == "Home" and home.meta["depth"] == 0
    assert "Content of Home." in home.text and "/p/1" not in home.text.split("Content")[0]


@pytest.mark.timeout(30)
def test_crawl_depth_bound(site: str) -> None:
    result = crawl(site + "/p/1", max_depth=2, max_pages=1000, timeout=5)
    depths = {d.source.removeprefix(site): d.meta["depth"] for d in result.documents}
    assert depths == {"/p/1": 0, "/p/2": 1, "/p/3": 1, "/": 1, "/p/4": 2, "/p/5": 2, "/wiki.txt": 2}
    assert max(depths.values()) == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://10.0.0.1/docs",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "http://127.0.0.1.evil.com/",
        "http://[2001:db8::1]/",
        "http://localhost.evil.com:80/",
    ],
)
def test_non_loopback_urls_refused_before_any_request(url: str) -> None:
    with pytest.raises(NotLoopbackError, match="refusing"):
        crawl(url)
    with pytest.raises(DocsError):
        load(url)


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("docs.localhost", False),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("::ffff:10.0.0.1", False),
        ("", False),
        (None, False),
    ],
)
def test_loopback_hosts(host: str | None, ok: bool) -> None:
    assert is_loopback_host(host) is ok


def test_unreachable_loopback_port_is_skipped_not_raised() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    port = server.server_address[1]
    server.server_close()  # nothing listens on this port now
    result = crawl(f"http://127.0.0.1:{port}/", timeout=2)
    assert not result.documents
    assert result.skipped[0].reason.startswith("fetch failed")


# --------------------------------------------------------------------------- the real Trac guide


def test_real_trac_user_guide_loads_with_headings() -> None:
    folders = sorted(ROOT.glob(".venv-trac/lib/python*/site-packages/trac/wiki/default-pages"))
    assert folders, "Trac's user guide is missing: run `make setup` (installs trac into .venv-trac)"
    result = load_path(folders[0])
    assert len(result.documents) >= 50
    assert result.skipped == []
    assert {d.format for d in result.documents} == {"trac"}
    with_headings = [d for d in result.documents if _headings(d.text)]
    assert len(with_headings) >= 50
    tickets = next(d for d in result.documents if d.meta["relative_path"] == "TracTickets")
    assert tickets.title == "The Trac Ticket System"
    assert "## Ticket Fields" in tickets.text and "{{{" not in tickets.text
    chunks = chunk_documents(result.documents)
    assert len(chunks) > len(result.documents)
    assert len({c.id for c in chunks}) == len(chunks)
    assert "The Trac Ticket System > Ticket Fields" in {c.title for c in chunks}
    assert all(len(c.text) <= 1500 for c in chunks)
