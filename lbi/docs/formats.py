"""Format detection, decoding and conversion of documentation to readable text.

Every converter returns ``(title, text)`` where ``text`` is plain, readable text in which
section headings are Markdown ATX lines (``# Title``, ``## Section``) and code is fenced
with triple backticks, so one chunker (``lbi.docs.load``) can split every format by headings.
Wiki markup (Trac, MediaWiki) lives in ``lbi.docs.wiki``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import PurePosixPath

from bs4 import BeautifulSoup, Tag
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction
from docutils import ApplicationError
from docutils.core import publish_parts
from docutils.utils import SystemMessage
from docutils.writers.html5_polyglot import Writer as Html5Writer
from markdown_it import MarkdownIt
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from lbi.docs.wiki import mediawiki_to_text, trac_to_text, wiki_flavour
from lbi.errors import UserError


class DocsError(UserError):
    """Base class of every error raised by the document loaders."""


class ConversionError(DocsError):
    """A document could not be converted to text (malformed PDF, encrypted file, ...)."""


FORMATS = ("markdown", "rst", "html", "text", "trac", "mediawiki", "pdf")

_EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".rst": "rst",
    ".rest": "rst",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
    ".pdf": "pdf",
    ".wiki": "trac",
    ".trac": "trac",
    ".tracwiki": "trac",
    ".mediawiki": "mediawiki",
    ".mw": "mediawiki",
    ".wikitext": "mediawiki",
}

# Extensions whose content is never text: reported as binary without being read.
BINARY_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .gif .bmp .ico .webp .tif .tiff .mp3 .mp4 .wav .ogg .avi .mov .zip .gz "
    ".tgz .bz2 .xz .7z .tar .whl .egg .jar .so .dll .dylib .exe .bin .o .a .pyc .pyo .class "
    ".woff .woff2 .ttf .otf .eot .sqlite .db .gguf .pt .pth .npy .npz .parquet .pickle .pkl".split()
)

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_TEXT_CONTROL = frozenset(b"\t\n\r\f\b\x1b")


# --------------------------------------------------------------------------- bytes


def is_pdf(data: bytes) -> bool:
    """True when the bytes start with the PDF magic number (after optional whitespace)."""
    return data[:1024].lstrip().startswith(b"%PDF-")


def looks_binary(data: bytes) -> bool:
    """Heuristic: NUL bytes or many control characters in the first 8 KiB mean binary."""
    sample = data[:8192]
    if any(sample.startswith(bom) for bom, _ in _BOMS):
        return False
    if b"\0" in sample:
        return True
    controls = sum(1 for byte in sample if byte < 32 and byte not in _TEXT_CONTROL)
    return bool(sample) and controls / len(sample) > 0.1


def decode_text(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode bytes without ever failing; return ``(text, encoding_used)``.

    Order: byte-order mark, declared charset (e.g. from HTTP), UTF-8, cp1252, and finally
    latin-1, which maps every byte and so cannot fail.
    """
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace"), codec
    candidates = [declared] if declared else []
    for codec in [*candidates, "utf-8", "cp1252"]:
        try:
            return data.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("latin-1"), "latin-1"


# --------------------------------------------------------------------------- detection

_MD_HINTS = re.compile(r"^(#{1,6} \S|```|~~~|\s*[-*+] \[[ x]\] )|\]\([^)\s]+\)", re.M)
_RST_HINTS = re.compile(r"^\.\. [\w:-]+::|^\S.*\n([=\-~^\"'`#*+])\1{2,}\s*$|^:\w+: ", re.M)


def detect_format(name: str, text: str) -> str:
    """Guess the format of a document from its name and (the start of) its text.

    The extension decides when it is known; otherwise the text is sniffed: PDF magic,
    HTML tags, Trac or MediaWiki markup (used for Trac's extensionless user-guide pages),
    reStructuredText, Markdown, and plain text as the fallback.
    """
    suffix = PurePosixPath(name.split("?", 1)[0]).suffix.lower()
    if suffix in _EXTENSIONS and suffix not in {".txt", ".text"}:
        return _EXTENSIONS[suffix]
    head = text[:20000]
    stripped = head.lstrip()
    if stripped.startswith("%PDF-"):
        return "pdf"
    if re.match(r"(<!doctype html|<html\b|<\?xml[^>]*>\s*<html\b)", stripped, re.I):
        return "html"
    flavour = wiki_flavour(head)
    if flavour:
        return flavour
    if suffix in {".txt", ".text"}:
        return "text"
    if _RST_HINTS.search(head) and not re.search(r"^#{1,6} \S", head, re.M):
        return "rst"
    if len(_MD_HINTS.findall(head)) >= 1:
        return "markdown"
    if re.search(r"<(p|div|h[1-6]|body|table|ul)\b[^>]*>", head, re.I):
        return "html"
    return "text"


# --------------------------------------------------------------------------- converters


def convert(fmt: str, name: str, text: str) -> tuple[str, str]:
    """Convert decoded text of format ``fmt`` to ``(title, readable_text)``."""
    converters: dict[str, Callable[[str], tuple[str, str]]] = {
        "markdown": markdown_to_text,
        "rst": rst_to_text,
        "html": html_to_text,
        "text": plain_to_text,
        "trac": trac_to_text,
        "mediawiki": mediawiki_to_text,
    }
    if fmt not in converters:
        raise ConversionError(f"unsupported format {fmt!r}")
    title, body = converters[fmt](text)
    return (title or _title_from_name(name)), body


def _title_from_name(name: str) -> str:
    stem = PurePosixPath(name.rstrip("/")).stem or name
    return stem.replace("_", " ").strip() or "untitled"


def plain_to_text(text: str) -> tuple[str, str]:
    """Plain text: normalise newlines; the first short line is the title."""
    body = _normalise_newlines(text).strip("\n")
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return (first if len(first) <= 100 else ""), body


def markdown_to_text(text: str) -> tuple[str, str]:
    """Markdown (CommonMark + tables) via markdown-it, then the HTML converter."""
    text = re.sub(r"\A---\n.*?\n---\n", "", _normalise_newlines(text), flags=re.S)  # front matter
    html = MarkdownIt("commonmark").enable("table").render(text)
    return html_to_text(html)


_RST_SETTINGS = {
    "report_level": 5,
    "halt_level": 5,
    "warning_stream": False,
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "_disable_config": True,
    "input_encoding": "unicode",
}


def rst_to_text(text: str) -> tuple[str, str]:
    """reStructuredText via docutils (HTML5 writer), then the HTML converter."""
    try:
        parts = publish_parts(text, writer=Html5Writer(), settings_overrides=_RST_SETTINGS)
    except (SystemMessage, ApplicationError) as exc:
        raise ConversionError(f"reStructuredText error: {exc}") from exc
    _, body = html_to_text(parts["html_body"])
    return parts["title"], body


def pdf_to_text(data: bytes) -> tuple[str, str, int]:
    """Extract the text of every page with pypdf; return ``(title, text, pages)``."""
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise ConversionError("encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise ConversionError(f"unreadable PDF: {type(exc).__name__}: {exc}") from exc
    text = "\n\n".join(_normalise_newlines(page).strip() for page in pages).strip()
    title, _ = plain_to_text(text)
    return (str(meta_title).strip() or title), text, len(pages)


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


# --------------------------------------------------------------------------- HTML

_DROP_TAGS = [
    "title",
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "iframe",
    "svg",
    "canvas",
    "button",
    "select",
    "input",
    "textarea",
    "link",
    "meta",
]
_DROP_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary"}
_DROP_NAMES = {
    # generic site chrome
    "nav",
    "navbar",
    "navigation",
    "menu",
    "sidebar",
    "breadcrumb",
    "breadcrumbs",
    "footer",
    "site-header",
    "site-footer",
    "skip-link",
    "cookie-banner",
    "toc-sidebar",
    # Sphinx
    "sphinxsidebar",
    "related",
    "headerlink",
    # Trac
    "banner",
    "mainnav",
    "metanav",
    "ctxtnav",
    "altlinks",
    "anchor",
    "trac-nav",
    "wiki-toc",
    "trac-modifiedby",
    "trac-help",
    "buttons",
}
_DROP_IDS = _DROP_NAMES | {"help", "header", "sidebar", "toc"}
_BLOCK_TAGS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "blockquote",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "figure",
    "figcaption",
    "address",
    "hr",
    "details",
    "summary",
    "body",
    "html",
    "form",
    "fieldset",
    "center",
}
# Whitespace directly inside these is layout, not text.
_CONTAINERS = {"ul", "ol", "dl", "table", "thead", "tbody", "tfoot", "tr", "html", "head", "body"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


def html_to_text(html: str) -> tuple[str, str]:
    """HTML to readable text: drop site chrome, keep the title, headings and code."""
    soup = BeautifulSoup(html, "html.parser")
    title = re.sub(r"\s+", " ", soup.title.get_text(" ", strip=True)) if soup.title else ""
    _strip_boilerplate(soup)
    root = (
        soup.find("main")
        or soup.find(role="main")
        or soup.find("article")
        or soup.find(id="content")
        or soup.body
        or soup
    )
    text = _tidy(_render_html(root))
    if not title:
        first = soup.find("h1")
        title = first.get_text(" ", strip=True) if isinstance(first, Tag) else ""
    return title, text


def _strip_boilerplate(soup: BeautifulSoup) -> None:
    doomed: list[Tag] = list(soup.find_all(_DROP_TAGS))
    for tag in soup.find_all(["header", "footer"]):
        if not tag.find_parent(["article", "main"]):
            doomed.append(tag)
    for tag in soup.find_all(True):
        classes = {str(c).lower() for c in (tag.get("class") or [])}
        ident = str(tag.get("id") or "").lower()
        if ident in _DROP_IDS or classes & _DROP_NAMES or str(tag.get("role") or "").lower() in _DROP_ROLES:
            doomed.append(tag)
    for tag in doomed:
        if not tag.decomposed:
            tag.decompose()


def _render_html(root: Tag | BeautifulSoup) -> str:
    """Iterative walk (deeply nested pages must not hit the recursion limit)."""
    out: list[str] = []
    stack: list[tuple[object, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        if isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
            continue
        if isinstance(node, NavigableString):
            if str(node).strip() or node.parent is None or node.parent.name not in _CONTAINERS:
                out.append(re.sub(r"\s+", " ", str(node)))
            continue
        if not isinstance(node, Tag):
            continue
        if closing:
            out.append("\n\n")
            continue
        if _render_leaf(node, out):
            continue
        if node.name in _BLOCK_TAGS:
            out.append("\n\n")
            stack.append((node, True))
        elif node.name == "li":
            out.append(_list_marker(node))
        stack.extend((child, False) for child in reversed(node.contents))
    return "".join(out)


def _render_leaf(node: Tag, out: list[str]) -> bool:
    """Render tags whose content is taken whole; return False for ordinary tags."""
    name = node.name
    if name in _HEADINGS:
        text = re.sub(r"\s+", " ", node.get_text(" ", strip=True)).strip(" ¶")
        if text:
            out.append(f"\n\n{'#' * _HEADINGS[name]} {text}\n\n")
        return True
    if name == "pre":
        code = node.get_text().strip("\n")
        out.append(f"\n\n```\n{code}\n```\n\n" if code.strip() else "")
        return True
    if name == "tr":
        cells = [c.get_text(" ", strip=True) for c in node.find_all(["td", "th"], recursive=False)]
        out.append("\n" + " | ".join(cells))
        return True
    if name in {"code", "kbd", "samp", "tt"} or "literal" in (node.get("class") or []):
        code = re.sub(r"\s+", " ", node.get_text())
        out.append(f"`{code}`" if code.strip() else code)
        return True
    if name == "br":
        out.append("\n")
        return True
    if name == "img":
        alt = str(node.get("alt") or "").strip()
        out.append(f" {alt} " if alt else "")
        return True
    return False


def _list_marker(item: Tag) -> str:
    parent = item.parent
    if parent is None or parent.name != "ol":
        return "\n- "
    try:
        start = int(str(parent.get("start") or 1))
    except ValueError:
        start = 1
    return f"\n{start + len(item.find_previous_siblings('li'))}. "


def _tidy(text: str) -> str:
    """Strip lines, collapse blank runs, but leave fenced code blocks untouched."""
    lines: list[str] = []
    in_code = False
    for raw in _normalise_newlines(text).split("\n"):
        if raw.strip().startswith("```"):
            in_code = not in_code
            lines.append(raw.strip())
            continue
        if in_code:
            lines.append(raw.rstrip())
            continue
        line = re.sub(r"[ \t\u00a0]+", " ", raw.replace("\u200b", "")).strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return "\n".join(lines).strip("\n")
