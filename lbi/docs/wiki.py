"""Wiki markup (Trac and MediaWiki) to readable text, and telling the two apart.

Output follows the convention of ``lbi.docs.formats``: headings become Markdown ATX lines,
code blocks are fenced with triple backticks, links keep their label, macros disappear.
"""

from __future__ import annotations

import re
import textwrap

from bs4 import BeautifulSoup

# --------------------------------------------------------------------------- detection

_TRAC_MARKERS = [
    re.compile(r"^\s*\{\{\{\s*$", re.M),  # code block opener on its own line
    re.compile(r"\{\{\{#!\w+"),  # processor block
    re.compile(r"\[\[(PageOutline|TracGuideToc|TOC|TitleIndex|BR|br)\b"),
    re.compile(r"\[(wiki|trac|ticket|source|report|query|milestone|changeset):[^\]]*\]"),
    re.compile(r"^=+ [^=\n]+$", re.M),  # `= Heading` without closing =
    re.compile(r"^= [^=\n]+ =\s*$", re.M),  # level-1 heading (rare on MediaWiki)
    re.compile(r"\[\[[A-Z][a-z]+[A-Z]\w*(\([^)\n]*\))?\]\]"),  # [[MacroName(args)]]
    re.compile(r"\[[A-Z][a-z]+[A-Z]\w*(#\S*)? [^\]\n]+\]"),  # [WikiPageName label]
    re.compile(r"^\|\|.*\|\|\s*$", re.M),  # table row
    re.compile(r"\[=#[\w.-]+"),  # anchor
    re.compile(r"![A-Z][a-z]+[A-Z]\w*"),  # escaped WikiPageName
]
_MEDIAWIKI_MARKERS = [
    re.compile(r"\{\{(?!\{)[^{}\n]+\}\}(?!\})"),  # template
    re.compile(r"\[\[(File|Image|Category|Media):", re.I),
    re.compile(r"<ref[ >]|__(NO)?TOC__"),
    re.compile(r"^\{\|", re.M),  # table
    re.compile(r"\[\[[^\]|\n]+ [^\]|\n]+(\|[^\]\n]+)?\]\]"),  # [[Page with spaces|label]]
]
_SHARED_MARKERS = [
    re.compile(r"^(=+) ?[^=\n]+? ?\1\s*$", re.M),  # == Heading ==
    re.compile(r"'''[^'\n]+'''"),
]


def wiki_flavour(text: str) -> str | None:
    """Return ``"trac"``, ``"mediawiki"`` or None for text that is not wiki markup."""
    trac = sum(1 for rx in _TRAC_MARKERS if rx.search(text))
    mediawiki = sum(1 for rx in _MEDIAWIKI_MARKERS if rx.search(text))
    shared = sum(1 for rx in _SHARED_MARKERS if rx.search(text))
    if trac >= 2 or (trac >= 1 and shared >= 1 and trac > mediawiki):
        return "trac"
    if mediawiki >= 2 or (mediawiki >= 1 and shared >= 1):
        return "mediawiki"
    if shared >= 2:
        return "trac"
    return None


# --------------------------------------------------------------------------- shared bits


def _heading(line: str) -> str | None:
    """``== Title ==`` / ``== Title`` / ``== Title == #anchor`` -> ``## Title``."""
    match = re.match(r"^\s*(={1,6})\s*(.*?\S)\s*$", line)
    if not match:
        return None
    body = re.sub(r"\s+#[\w.:-]+$", "", match.group(2))
    body = re.sub(r"\s*=+$", "", body).strip()
    if not body or body.startswith("="):
        return None
    return f"{'#' * len(match.group(1))} {body}"


def _strip_emphasis(text: str) -> str:
    return re.sub(r"'{2,5}", "", text)


def _fence(lines: list[str]) -> list[str]:
    body = textwrap.dedent("\n".join(lines)).strip("\n")
    return ["", "```", *body.split("\n"), "```", ""] if body.strip() else []


# --------------------------------------------------------------------------- Trac

_TRAC_CONTAINERS = {"div", "td", "th", "tr", "table", "span", "wiki", "default-wiki"}
_TRAC_DROP = {"comment", "htmlcomment"}
_TRAC_MACROS = {
    "pageoutline",
    "tracguidetoc",
    "toc",
    "titleindex",
    "recentchanges",
    "macrolist",
    "tracini",
    "knownmimetypes",
    "interwiki",
    "intertrac",
    "traadminhelp",
    "tracadminhelp",
    "processorlist",
    "repositoryindex",
    "ticketquery",
    "image",
    "span",
    "timestamp",
    "helloworld",
    "workflow",
    "changelog",
    "wikicreole",
}
_LINK_TARGET = r"(?:[a-z][\w+.-]*:[^\s\]]*|/[^\s\]]*|#[^\s\]]*|[A-Z][a-z]+[A-Z]\w*(?:#[^\s\]]*)?)"
_CODE_SPLIT = re.compile(r"(\{\{\{.*?\}\}\}|`[^`\n]*`)")


def trac_to_text(text: str) -> tuple[str, str]:
    """Trac wiki markup (``= Heading =``, ``{{{ }}}``, ``[wiki:Page label]``...) to text."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    open_containers = 0
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("{{{") and "}}}" not in stripped[3:]:
            processor, i = _trac_processor(lines, i)
            if processor in _TRAC_CONTAINERS:
                open_containers += 1
                out.append("")
                continue
            body, i = _trac_block(lines, i)
            out.extend(_trac_render_block(processor, body))
            continue
        if stripped == "}}}" and open_containers:
            open_containers -= 1
            out.append("")
        else:
            out.append(_trac_line(lines[i]))
        i += 1
    page = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
    title = next((ln.lstrip("# ") for ln in page.split("\n") if ln.startswith("# ")), "")
    return title, page


def _trac_processor(lines: list[str], i: int) -> tuple[str | None, int]:
    """Read a ``{{{`` opener (processor on the same or next line); return name, next index."""
    rest = lines[i].strip()[3:].strip()
    if not rest and i + 1 < len(lines) and lines[i + 1].strip().startswith("#!"):
        rest, i = lines[i + 1].strip(), i + 1
    if rest.startswith("#!"):
        name = rest[2:].split(maxsplit=1)
        return (name[0].lower() if name else ""), i + 1
    return None, i + 1


def _trac_block(lines: list[str], i: int) -> tuple[list[str], int]:
    """Collect a code block up to its matching ``}}}`` (blocks nest); unclosed -> EOF."""
    depth, body = 1, list[str]()
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("{{{") and "}}}" not in stripped[3:]:
            depth += 1
        elif stripped == "}}}":
            depth -= 1
            if depth == 0:
                return body, i + 1
        body.append(lines[i])
        i += 1
    return body, i


def _trac_render_block(processor: str | None, body: list[str]) -> list[str]:
    if processor in _TRAC_DROP:
        return []
    if processor == "html":
        html = BeautifulSoup("\n".join(body), "html.parser").get_text("\n", strip=True)
        return ["", html, ""]
    return _fence(body)


def _trac_line(line: str) -> str:
    heading = _heading(line)
    if heading:
        return heading
    stripped = line.strip()
    if re.fullmatch(r"-{4,}|\|-+", stripped):
        return ""
    if stripped.startswith("||"):
        cells = [re.sub(r"^=\s*|\s*=$", "", c.strip()) for c in stripped.strip("|").split("||")]
        return " | ".join(_trac_inline(c) for c in cells)
    definition = re.match(r"^\s+(.+?)::\s*(.*)$", line)
    if definition:
        return f"{_trac_inline(definition.group(1))}: {_trac_inline(definition.group(2))}"
    return _trac_inline(line.rstrip())


def _trac_inline(text: str) -> str:
    parts = _CODE_SPLIT.split(text)
    for k, part in enumerate(parts):
        if k % 2:
            parts[k] = "`" + (part[3:-3] if part.startswith("{{{") else part[1:-1]) + "`"
        else:
            parts[k] = _trac_links(part)
    return "".join(parts)


def _trac_links(text: str) -> str:
    text = re.sub(r"\[\[(br|BR)\]\]", " ", text)
    text = re.sub(r"\[\[([^\]|]+)\|(.+?)\]\]", lambda m: _label(m.group(2)), text)
    text = re.sub(r"\[\[(\w+)\([^\]]*\)\]\]", "", text)
    text = re.sub(r"\[\[([^\]]+)\]\]", _trac_double_bracket, text)
    text = re.sub(r"\[=#[\w.:-]+\s*([^\]]*)\]", lambda m: m.group(1), text)
    text = re.sub(
        rf"\[({_LINK_TARGET})(?:\s+([^\]]+))?\]",
        lambda m: _label(m.group(2)) if m.group(2) else _target_label(m.group(1)),
        text,
    )
    text = re.sub(r"!(?=[\w\[{#])", "", text)
    return _strip_emphasis(text)


def _trac_double_bracket(match: re.Match[str]) -> str:
    inner = match.group(1).strip()
    return "" if inner.lower() in _TRAC_MACROS else _target_label(inner)


def _label(label: str) -> str:
    return label.strip().strip("\"'")


def _target_label(target: str) -> str:
    return re.sub(r"^wiki:", "", target)


# --------------------------------------------------------------------------- MediaWiki

_MW_CODE_OPEN = re.compile(r"^\s*<(pre|syntaxhighlight|source)\b[^>]*>(.*)$", re.I)


def mediawiki_to_text(text: str) -> tuple[str, str]:
    """MediaWiki markup to text: headings, links, templates, tables, ``<pre>`` blocks."""
    text = re.sub(r"<!--.*?-->", "", text.replace("\r\n", "\n"), flags=re.S)
    text = re.sub(r"<ref[^>]*/>|<ref[^>]*>.*?</ref>", "", text, flags=re.S | re.I)
    for _ in range(5):  # nested templates, innermost first
        text, count = re.subn(r"\{\{(?!\{)[^{}]*\}\}", "", text)
        if not count:
            break
    out: list[str] = []
    code: list[str] | None = None
    for line in text.split("\n"):
        if code is not None:
            end = re.search(r"</(pre|syntaxhighlight|source)>", line, re.I)
            code.append(line[: end.start()] if end else line)
            if end:
                out.extend(_fence(code))
                code = None
            continue
        opened = _MW_CODE_OPEN.match(line)
        if opened:
            code = []
            rest = opened.group(2)
            end = re.search(r"</(pre|syntaxhighlight|source)>", rest, re.I)
            if end:
                out.extend(_fence([rest[: end.start()]]))
                code = None
            elif rest.strip():
                code.append(rest)
            continue
        out.append(_mediawiki_line(line))
    if code is not None:
        out.extend(_fence(code))
    page = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")
    title = next((ln.lstrip("# ") for ln in page.split("\n") if ln.startswith("# ")), "")
    return title, page


def _mediawiki_line(line: str) -> str:
    heading = _heading(line)
    if heading:
        return heading
    stripped = line.strip()
    if stripped.startswith(("{|", "|}", "|-")) or stripped in {"__TOC__", "__NOTOC__"}:
        return ""
    if stripped.startswith(("|", "!")):
        cells = re.split(r"\|\||!!", stripped[1:])
        return " | ".join(_mediawiki_inline(c.split("|")[-1].strip()) for c in cells)
    bullet = re.match(r"^([*#:;]+)\s*(.*)$", line)
    if bullet:
        return "- " + _mediawiki_inline(bullet.group(2))
    return _mediawiki_inline(line.rstrip())


def _mediawiki_inline(text: str) -> str:
    text = re.sub(r"\[\[(?:File|Image|Category|Media):[^\]]*\]\]", "", text, flags=re.I)
    text = re.sub(r"\[\[[^\]|]+\|([^\]]+)\]\]", r"\1", text)
    text = re.sub(r"\[\[([^\]]+)\]\]", r"\1", text)
    text = re.sub(r"\[(?:https?|ftp)://\S+\s+([^\]]+)\]", r"\1", text)
    text = re.sub(r"</?(code|tt|nowiki|span|small|big|u|s|b|i|sup|sub)\b[^>]*>", "", text, flags=re.I)
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.I)
    return _strip_emphasis(text)
