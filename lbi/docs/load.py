"""Resources -> documents -> chunks (step 1 of the Learn-by-interact pipeline).

A pure library: nothing here touches the store. Load documentation from a file, a folder,
uploaded bytes or a crawl of a loopback site, then split it into chunks with stable ids::

    result = load_path("docs/")            # LoadResult(documents=[...], skipped=[...])
    chunks = [c for d in result.documents for c in chunk_document(d)]

Bad input (empty, binary, oversize, unreadable) never raises from a load: it comes back as
a ``Skipped(source, reason)`` entry, and a folder load carries on past it. Errors about the
request itself (a path that does not exist, a URL off loopback) raise a ``DocsError``.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from lbi.docs.crawl import CrawlSkip, NotLoopbackError, fetch_site
from lbi.docs.formats import (
    BINARY_EXTENSIONS,
    FORMATS,
    ConversionError,
    DocsError,
    convert,
    decode_text,
    detect_format,
    is_pdf,
    looks_binary,
    pdf_to_text,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "Chunk",
    "ConversionError",
    "DocsError",
    "Document",
    "LoadResult",
    "NotLoopbackError",
    "Skipped",
    "chunk_document",
    "chunk_documents",
    "crawl",
    "detect_format",
    "load",
    "load_bytes",
    "load_path",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 1500
DEFAULT_OVERLAP = 200
_ID_LEN = 16


class Document(BaseModel):
    """One loaded resource, converted to readable text (headings as ``#`` lines)."""

    id: str = Field(description="Short sha256 of source + text; stable across re-loads.")
    source: str = Field(description="Where it came from: a path, ``upload:NAME`` or a URL.")
    title: str = Field(description="Document title (from the markup, else the file name).")
    format: str = Field(description=f"One of {', '.join(FORMATS)}.")
    text: str = Field(description="Readable text; chunk offsets index into this.")
    meta: dict[str, Any] = Field(default_factory=dict, description="bytes, encoding, pages...")


class Chunk(BaseModel):
    """A piece of a document small enough for one task-generation prompt."""

    id: str = Field(description="Short sha256 of doc_id + ordinal + text; stable.")
    doc_id: str
    ordinal: int = Field(description="Position of the chunk in its document, from 0.")
    text: str = Field(description="Exactly ``document.text[start_char:end_char]``.")
    title: str = Field(description="Heading path, e.g. 'The Trac Ticket System > Ticket Fields'.")
    start_char: int
    end_char: int


class Skipped(BaseModel):
    """An input that was not loaded, and why."""

    source: str
    reason: str


class LoadResult(BaseModel):
    """Documents loaded plus the inputs skipped with their reasons."""

    documents: list[Document] = Field(default_factory=list)
    skipped: list[Skipped] = Field(default_factory=list)

    def merge(self, other: LoadResult) -> LoadResult:
        """Append ``other`` into this result (in place) and return self."""
        self.documents.extend(other.documents)
        self.skipped.extend(other.skipped)
        return self


def _short_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:_ID_LEN]


# --------------------------------------------------------------------------- loading


def _skip(source: str, reason: str) -> LoadResult:
    return LoadResult(skipped=[Skipped(source=source, reason=reason)])


def _from_bytes(
    source: str,
    name: str,
    data: bytes,
    *,
    max_bytes: int,
    fmt: str | None = None,
    charset: str | None = None,
) -> LoadResult:
    """Turn raw bytes into a document, or a ``Skipped`` entry saying why not."""
    if len(data) > max_bytes:
        return _skip(source, f"too large: {len(data)} bytes > limit {max_bytes}")
    if not data.strip():
        return _skip(source, "empty file")
    meta: dict[str, Any] = {"bytes": len(data), "name": name}
    if fmt == "pdf" or (fmt is None and is_pdf(data)):
        try:
            title, text, pages = pdf_to_text(data)
        except ConversionError as exc:
            return _skip(source, str(exc))
        fmt, meta["pages"] = "pdf", pages
    else:
        if looks_binary(data):
            return _skip(source, "binary content (not text)")
        raw, meta["encoding"] = decode_text(data, charset)
        fmt = fmt or detect_format(name, raw)
        try:
            title, text = convert(fmt, name, raw)
        except ConversionError as exc:
            return _skip(source, str(exc))
    if not text.strip():
        return _skip(source, f"no text after conversion from {fmt}")
    title = title or PurePosixPath(name).stem or source
    doc = Document(id=_short_hash(source, text), source=source, title=title, format=fmt, text=text, meta=meta)
    return LoadResult(documents=[doc])


def load_bytes(name: str, data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, fmt: str | None = None) -> LoadResult:
    """Load uploaded content (e.g. a Streamlit ``UploadedFile``: ``.name``, ``.getvalue()``).

    The source is ``upload:NAME``; the format is detected from the name and content unless
    ``fmt`` is given.
    """
    if fmt is not None and fmt not in FORMATS:
        raise DocsError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _from_bytes(f"upload:{name}", name, data, max_bytes=max_bytes, fmt=fmt)


def _load_file(path: Path, *, max_bytes: int, root: Path | None) -> LoadResult:
    source = path.as_posix()
    try:
        size = path.stat().st_size
        if path.suffix.lower() in BINARY_EXTENSIONS:
            return _skip(source, f"binary file type ({path.suffix})")
        if size > max_bytes:
            return _skip(source, f"too large: {size} bytes > limit {max_bytes}")
        data = path.read_bytes()
    except OSError as exc:
        return _skip(source, f"unreadable: {exc.strerror or exc}")
    result = _from_bytes(source, path.name, data, max_bytes=max_bytes)
    for doc in result.documents:
        doc.meta["path"] = source
        if root is not None:
            doc.meta["relative_path"] = path.relative_to(root).as_posix()
    return result


def _walk(root: Path) -> list[Path]:
    """Every non-hidden file under ``root`` in a stable order; symlinked dirs not followed."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        found.extend(Path(dirpath, f) for f in sorted(filenames) if not f.startswith("."))
    return found


def load_path(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_files: int = 10_000,
) -> LoadResult:
    """Load one file, or every non-hidden file under a folder (recursively).

    Bad files are reported in ``skipped`` and the folder load continues. Raises
    ``DocsError`` when the path does not exist.
    """
    target = Path(path).expanduser().resolve()
    if not target.exists():
        raise DocsError(f"no such file or folder: {path}")
    if target.is_file():
        return _load_file(target, max_bytes=max_bytes, root=None)
    result = LoadResult()
    files = _walk(target)
    for file in files[:max_files]:
        result.merge(_load_file(file, max_bytes=max_bytes, root=target))
    if len(files) > max_files:
        result.skipped.append(
            Skipped(
                source=target.as_posix(),
                reason=f"file limit {max_files} reached; {len(files) - max_files} files not loaded",
            )
        )
    return result


def crawl(
    url: str,
    *,
    max_depth: int = 2,
    max_pages: int = 50,
    timeout: float = 10.0,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> LoadResult:
    """Crawl a site on loopback (same origin only, breadth first, bounded) into documents.

    Raises ``NotLoopbackError`` for a URL whose host is not 127.0.0.0/8, ::1 or localhost.
    Pages that fail, are not text, or repeat a page already loaded are ``skipped``.
    """
    result = LoadResult()
    seen_text: dict[str, str] = {}
    for item in fetch_site(url, max_depth=max_depth, max_pages=max_pages, timeout=timeout, max_bytes=max_bytes):
        if isinstance(item, CrawlSkip):
            result.skipped.append(Skipped(source=item.url, reason=item.reason))
            continue
        fmt = _format_for_content_type(item.content_type)
        if fmt == "unsupported":
            result.skipped.append(Skipped(source=item.url, reason=f"unsupported content type {item.content_type}"))
            continue
        name = PurePosixPath(urlsplit(item.url).path).name or "index.html"
        page = _from_bytes(item.url, name, item.data, max_bytes=max_bytes, fmt=fmt, charset=item.charset)
        for doc in page.documents:
            digest = _short_hash(doc.text)
            if digest in seen_text:
                page = _skip(item.url, f"same content as {seen_text[digest]}")
                break
            seen_text[digest] = item.url
            doc.meta.update(url=item.url, depth=item.depth, content_type=item.content_type)
        result.merge(page)
    return result


def _format_for_content_type(content_type: str) -> str | None:
    """Map an HTTP content type to a format; None means "detect from name and text"."""
    known = {
        "text/html": "html",
        "application/xhtml+xml": "html",
        "application/pdf": "pdf",
        "text/markdown": "markdown",
        "text/x-markdown": "markdown",
        "text/x-rst": "rst",
        "text/prs.fallenstein.rst": "rst",
    }
    if content_type in known:
        return known[content_type]
    if content_type.startswith("text/") or not content_type:
        return None
    return "unsupported"


def load(source: str, **options: Any) -> LoadResult:
    """Load a path or an http(s) URL (crawled); what ``lbi docs add PATH|URL`` calls."""
    if re.match(r"^https?://", source, re.I):
        return crawl(source, **options)
    return load_path(source, **options)


# --------------------------------------------------------------------------- chunking

_ATX = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _sections(text: str, doc_title: str) -> list[tuple[int, int, str]]:
    """Split at Markdown headings outside code fences: ``(start, end, heading_path)``."""
    bounds: list[tuple[int, str]] = [(0, doc_title)]
    path: list[tuple[int, str]] = []
    in_code, offset = False, 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_code = not in_code
        elif not in_code and (match := _ATX.match(stripped)):
            level = len(match.group(1))
            path = [p for p in path if p[0] < level] + [(level, match.group(2))]
            titles = [t for _, t in path]
            if titles[0] != doc_title:
                titles.insert(0, doc_title)
            bounds.append((offset, " > ".join(titles)))
        offset += len(line)
    spans = [
        (start, bounds[k + 1][0] if k + 1 < len(bounds) else len(text), title)
        for k, (start, title) in enumerate(bounds)
    ]
    return [span for span in spans if text[span[0] : span[1]].strip()]


def _merge_small(spans: list[tuple[int, int, str]], size: int) -> list[tuple[int, int, str]]:
    """Join neighbouring sections while together they still fit in one chunk."""
    merged: list[tuple[int, int, str]] = []
    for start, end, title in spans:
        if merged and end - merged[-1][0] <= size:
            merged[-1] = (merged[-1][0], end, merged[-1][2])
        else:
            merged.append((start, end, title))
    return merged


def _find_cut(text: str, lo: int, hi: int) -> int:
    """Best end for a chunk in ``text[lo:hi]``: paragraph, line, sentence, then word break."""
    window = text[lo:hi]
    for pattern in (r"\n\s*\n", r"\n", r"[.!?:;](?=\s)", r"\s"):
        ends = [m.end() for m in re.finditer(pattern, window)]
        if ends:
            return lo + ends[-1]
    return hi  # one "word" longer than the window: cutting inside it is unavoidable


def _split_span(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    pos = start
    min_len = min(max(size // 2, overlap + 1), size)
    while True:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            return pieces
        if end - pos <= size:
            pieces.append((pos, end))
            return pieces
        cut = _find_cut(text, pos + min_len, pos + size) if min_len < size else pos + size
        pieces.append((pos, cut))
        pos = _overlap_start(text, pos, cut, overlap)


def _overlap_start(text: str, pos: int, cut: int, overlap: int) -> int:
    """Start of the next chunk: ``overlap`` chars before ``cut``, moved to a word start."""
    if overlap <= 0:
        return cut
    nxt = max(cut - overlap, pos + 1)
    if nxt > 0 and not text[nxt - 1].isspace():
        space = re.compile(r"\s").search(text, nxt, cut)
        nxt = space.end() if space else nxt
    return nxt


def chunk_document(doc: Document, *, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP) -> list[Chunk]:
    """Split a document by headings, then paragraphs, into chunks of about ``size`` chars.

    Small neighbouring sections are merged; long sections are split at paragraph, line,
    sentence or word boundaries, consecutive pieces sharing about ``overlap`` characters.
    Each chunk's ``title`` is its heading path; ids depend only on the document id, the
    ordinal and the text, so re-loading the same content gives the same ids.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size (got {size}, {overlap})")
    text = doc.text
    chunks: list[Chunk] = []
    for start, end, title in _merge_small(_sections(text, doc.title), size):
        for piece_start, piece_end in _split_span(text, start, end, size, overlap):
            while piece_end > piece_start and text[piece_end - 1].isspace():
                piece_end -= 1
            if piece_end <= piece_start:
                continue
            body, ordinal = text[piece_start:piece_end], len(chunks)
            chunks.append(
                Chunk(
                    id=_short_hash(doc.id, str(ordinal), body),
                    doc_id=doc.id,
                    ordinal=ordinal,
                    text=body,
                    title=title,
                    start_char=piece_start,
                    end_char=piece_end,
                )
            )
    return chunks


def chunk_documents(
    docs: list[Document], *, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_OVERLAP
) -> list[Chunk]:
    """``chunk_document`` over many documents, in order."""
    return [chunk for doc in docs for chunk in chunk_document(doc, size=size, overlap=overlap)]
