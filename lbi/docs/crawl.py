"""A small, bounded, loopback-only crawler (stdlib ``urllib``; no proxies, no redirects off
the start origin). ``lbi.docs.crawl`` turns what it fetches into documents.
"""

from __future__ import annotations

import http.client
import ipaddress
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup

from lbi.docs.formats import DocsError

USER_AGENT = "lbi-docs-crawler/1.0"
_SKIP_SUFFIXES = (
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".ico",
    ".svg",
    ".css",
    ".js",
    ".woff",
    ".woff2",
    ".ttf",
    ".zip",
    ".gz",
    ".tar",
    ".mp4",
    ".webp",
)


class NotLoopbackError(DocsError, ValueError):
    """The URL is not http(s) on a loopback host (127.0.0.0/8, ::1, localhost)."""


@dataclass(frozen=True)
class CrawlPage:
    url: str
    depth: int
    content_type: str
    charset: str | None
    data: bytes


@dataclass(frozen=True)
class CrawlSkip:
    url: str
    reason: str


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and any loopback IPv4/IPv6 literal (127.0.0.0/8, ::1).

    Other names are refused even when they would resolve to loopback: a name's answer can
    change between the check and the request.
    """
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback_url(url: str) -> tuple[str, str, int | None]:
    """Return the origin ``(scheme, host, port)`` of a loopback http(s) URL, else raise."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise NotLoopbackError(f"refusing {url!r}: only http(s) URLs can be crawled")
    try:
        port = parts.port
    except ValueError as exc:
        raise NotLoopbackError(f"refusing {url!r}: bad port") from exc
    if not is_loopback_host(parts.hostname):
        raise NotLoopbackError(
            f"refusing {url!r}: host {parts.hostname!r} is not loopback "
            "(only 127.0.0.0/8, ::1 and localhost may be crawled)"
        )
    return parts.scheme, (parts.hostname or "").lower(), port or _default_port(parts.scheme)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only within the start origin."""

    def __init__(self, origin: tuple[str, str, int | None]) -> None:
        super().__init__()
        self.origin = origin

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        target = urljoin(req.full_url, newurl)
        if _origin(target) != self.origin:
            raise urllib.error.HTTPError(req.full_url, code, f"redirect off origin to {target}", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        return check_loopback_url(url)
    except NotLoopbackError:
        return None


def _opener(origin: tuple[str, str, int | None]) -> urllib.request.OpenerDirector:
    # ProxyHandler({}) ignores http_proxy & co: loopback traffic must never leave the host.
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), _SameOriginRedirects(origin))


def _fetch(
    opener: urllib.request.OpenerDirector, url: str, depth: int, timeout: float, max_bytes: int
) -> CrawlPage | CrawlSkip:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with opener.open(request, timeout=timeout) as response:
            data = response.read(max_bytes + 1)
            content_type = response.headers.get_content_type() if response.headers else ""
            charset = response.headers.get_content_charset() if response.headers else None
            final_url = response.geturl()
    except urllib.error.HTTPError as exc:
        return CrawlSkip(url, f"HTTP {exc.code}: {exc.reason}")
    except urllib.error.URLError as exc:
        return CrawlSkip(url, f"fetch failed: {exc.reason}")
    except (TimeoutError, http.client.HTTPException, OSError) as exc:
        return CrawlSkip(url, f"fetch failed: {type(exc).__name__}: {exc}")
    if len(data) > max_bytes:
        return CrawlSkip(url, f"too large: more than {max_bytes} bytes")
    return CrawlPage(final_url, depth, content_type, charset, data)


def extract_links(page: CrawlPage) -> list[str]:
    """Absolute, fragment-free links of an HTML page (``rel=nofollow`` links ignored)."""
    soup = BeautifulSoup(page.data, "html.parser")
    base_tag = soup.find("base", href=True)
    base = urljoin(page.url, str(base_tag["href"])) if base_tag else page.url
    links: list[str] = []
    for anchor in soup.find_all("a", href=True):
        rel = anchor.get("rel") or list[str]()
        if "nofollow" in [str(r).lower() for r in rel]:
            continue
        href = str(anchor["href"]).strip()
        if not href or href.startswith(("mailto:", "javascript:", "tel:", "data:")):
            continue
        links.append(urldefrag(urljoin(base, href))[0])
    return links


def fetch_site(
    url: str,
    *,
    max_depth: int = 2,
    max_pages: int = 50,
    timeout: float = 10.0,
    max_bytes: int = 10 * 1024 * 1024,
) -> Iterator[CrawlPage | CrawlSkip]:
    """Breadth-first fetch from ``url`` within its origin: at most ``max_pages`` requests,
    links followed to ``max_depth`` hops; a visited set makes link loops terminate.

    Raises ``NotLoopbackError`` before any request when ``url`` is not on loopback.
    """
    origin = check_loopback_url(url)
    if max_pages < 1 or max_depth < 0:
        raise DocsError("need max_pages >= 1 and max_depth >= 0")
    opener = _opener(origin)
    start = urldefrag(url)[0]
    queue: deque[tuple[str, int]] = deque([(start, 0)])
    visited = {start}
    fetched = 0
    while queue and fetched < max_pages:
        current, depth = queue.popleft()
        fetched += 1
        item = _fetch(opener, current, depth, timeout, max_bytes)
        yield item
        if not isinstance(item, CrawlPage) or depth >= max_depth:
            continue
        if item.content_type not in {"text/html", "application/xhtml+xml"}:
            continue
        visited.add(item.url)
        for link in extract_links(item):
            if link in visited or _origin(link) != origin:
                continue
            if urlsplit(link).path.lower().endswith(_SKIP_SUFFIXES):
                continue
            visited.add(link)
            queue.append((link, depth + 1))
    if queue:
        yield CrawlSkip(start, f"page limit {max_pages} reached; {len(queue)} queued links not fetched")
