"""Chromium and the scripts injected into its pages.

* :class:`BrowserSession`: Playwright driving Debian's Chromium with the flags that work
  offline in a container (never a downloaded browser);
* :data:`SNAPSHOT_JS`: walks the DOM once and returns

  - ``text``: an accessibility-tree-like outline, one node per line:
    ``[bid] role "name" value="..." checked focused`` for elements the agent can act on,
    ``role "name"`` for structure (headings, tables, lists, forms), ``StaticText "..."``;
  - ``elements``: the actionable elements (bid, role, name, kind, options);
  - ``focused``: the bid of the focused element.

  Element ids (bids) are written to the DOM as ``data-lbi-bid`` and stay put while the
  document lives. A new element takes the element's own ``id`` when that id is short,
  unique and starts with a letter (``field-summary``), the ``name`` of a form control
  when unique (``submit``), otherwise the next number of a per-document counter, so the
  same page gets the same bids on every visit;
* :func:`web_signature`: the port-free state key of a page.
"""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import Browser, Playwright, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from pydantic import Field

from lbi.envs.base import EnvCrashed
from lbi.envs.registry import ScreenOptions

CHROMIUM_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium", "/usr/bin/chromium-browser")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]
SINGLE_TAB_JS = """
(() => {
  const same = (e) => { const t = e.target && e.target.closest && e.target.closest('[target]');
                         if (t) t.removeAttribute('target'); };
  document.addEventListener('click', same, true);
  document.addEventListener('submit', same, true);
  window.open = (url) => { if (url) window.location.href = url; return window; };
})();
"""
CLICK_LISTENER_JS = """
(() => {  // remember the elements that get a click-like listener (a div acting as a button has no other mark)
  const KINDS = new Set(['click', 'dblclick', 'mousedown', 'mouseup', 'pointerdown', 'pointerup']);
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (KINDS.has(type) && this instanceof Element) this.__lbiClick = true;
    return add.call(this, type, listener, options);
  };
})();
"""
VOLATILE_PARAMS = re.compile(
    r"^(_|__.*|t|ts|time|timestamp|rand|nonce|token|sid|session|"
    r"sessionid|utm_.*|__form_token)$",
    re.I,
)
CRASH_MARKERS = ("has been closed", "Target crashed", "Browser closed", "browser has disconnected", "Connection closed")


def find_chromium() -> str:
    for path in CHROMIUM_PATHS:
        if Path(path).exists():
            return path
    found = shutil.which("chromium")
    if found:
        return found
    raise EnvCrashed("Chromium not found: apt-get install -y chromium (never playwright install)")


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{parts.scheme}:"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def web_signature(url: str | None, title: str | None) -> str:
    """Port-free, volatile-free key of a page: ``/path/{n}?key=value | title``.

    Numbers in path segments and titles become ``{n}`` so that ``/ticket/3`` and
    ``/ticket/7`` share a signature (same kind of page); query values are kept (they are
    the page's filter), volatile parameters (tokens, timestamps, utm_*) dropped."""
    if not url:
        return "web:blank"
    parts = urlsplit(url)
    path = re.sub(r"(?<=/)\d+(?=/|$)", "{n}", parts.path or "/")
    query = sorted((k, v) for k, v in parse_qsl(parts.query) if not VOLATILE_PARAMS.match(k))
    title_key = re.sub(r"\d+", "{n}", (title or "").strip())
    return f"{path}{'?' + '&'.join(f'{k}={v}' for k, v in query) if query else ''} | {title_key}"


_local = threading.local()


def _acquire_playwright() -> Playwright:
    """One Playwright driver per thread (a second ``sync_playwright().start()`` in the same
    thread fails), shared by every :class:`BrowserSession` of that thread."""
    if getattr(_local, "users", 0) == 0:
        _local.pw = sync_playwright().start()
        _local.users = 0
    _local.users += 1
    return _local.pw


def _release_playwright() -> None:
    _local.users -= 1
    if _local.users == 0:
        _local.pw.stop()
        _local.pw = None


class BrowserSession:
    """One Chromium; share it between the envs of one thread (one context each)."""

    def __init__(self, headless: bool = True) -> None:
        self._pw: Playwright | None = _acquire_playwright()
        try:
            self.browser: Browser = self._pw.chromium.launch(
                executable_path=find_chromium(), headless=headless, args=LAUNCH_ARGS
            )
        except PlaywrightError as err:
            self._pw = None
            _release_playwright()
            raise EnvCrashed(f"cannot launch Chromium: {err}") from err

    def alive(self) -> bool:
        return self._pw is not None and self.browser.is_connected()

    def close(self) -> None:
        """Close the browser (idempotent)."""
        if self._pw is None:
            return
        try:
            if self.browser.is_connected():
                self.browser.close()
        except PlaywrightError:
            pass  # already gone: nothing left to close
        self._pw = None
        _release_playwright()


SNAPSHOT_JS = r"""
(opts) => {
  const maxText = opts.maxNameChars || 120;
  const maxBlock = opts.maxTextChars || 1000;
  const ATTR = 'data-lbi-bid';
  const SKIP = new Set(['SCRIPT','STYLE','NOSCRIPT','TEMPLATE','HEAD','META','LINK','SVG']);
  const STRUCT = {H1:'heading',H2:'heading',H3:'heading',H4:'heading',H5:'heading',
    H6:'heading',TABLE:'table',TR:'row',TH:'columnheader',TD:'cell',UL:'list',OL:'list',
    LI:'listitem',NAV:'navigation',FORM:'form',MAIN:'main',FIELDSET:'group',DL:'list',
    DIALOG:'dialog',LEGEND:'LabelText',CAPTION:'caption'};
  const INTERACTIVE_ROLES = new Set(['link','button','textbox','searchbox','checkbox',
    'radio','combobox','listbox','menuitem','tab','switch','slider','spinbutton',
    'option','menuitemcheckbox','menuitemradio','treeitem']);
  const used = new Set();
  document.querySelectorAll('[' + ATTR + ']').forEach(e => used.add(e.getAttribute(ATTR)));
  if (window.__lbiNext === undefined) window.__lbiNext = 1;
  if (window.__lbiNextC === undefined) window.__lbiNextC = 1;
  // elements acting through a click listener (CLICK_LISTENER_JS) or an onclick property, marked for the selectors
  for (const e of (document.body || document.documentElement).querySelectorAll('*'))
    if ((e.__lbiClick || typeof e.onclick === 'function') && !e.hasAttribute('data-lbi-click'))
      e.setAttribute('data-lbi-click', '');
  const okId = s => typeof s === 'string' && /^[A-Za-z][A-Za-z0-9_.:-]{0,39}$/.test(s);
  const clean = s => (s || '').replace(/\s+/g, ' ').trim();
  const cut = (s, n) => s.length > n ? s.slice(0, n) + '…' : s;
  const q = s => JSON.stringify(cut(clean(s), maxText));

  function bidOf(el, listener) {
    let bid = el.getAttribute(ATTR);
    if (bid) return bid;
    const id = el.getAttribute('id');
    const name = el.getAttribute('name');
    if (okId(id) && !used.has(id) &&
        document.querySelectorAll('[id="' + id + '"]').length === 1) bid = id;
    else if (okId(name) && !used.has(name) && /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(el.tagName)
             && el.type !== 'radio' && document.getElementsByName(name).length === 1) bid = name;
    else if (listener) { do { bid = 'c' + window.__lbiNextC++; } while (used.has(bid)); }  // own series:
    else { do { bid = String(window.__lbiNext++); } while (used.has(bid)); }  // numbered bids stay put
    used.add(bid);
    el.setAttribute(ATTR, bid);
    return bid;
  }
  function roleOf(el) {
    const explicit = el.getAttribute('role');
    if (explicit) return explicit.split(' ')[0];
    const t = el.tagName;
    if (t === 'A') return el.hasAttribute('href') ? 'link' : null;
    if (t === 'BUTTON' || t === 'SUMMARY') return 'button';
    if (t === 'SELECT') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    if (t === 'TEXTAREA') return 'textbox';
    if (t === 'INPUT') {
      const ty = (el.type || 'text').toLowerCase();
      if (ty === 'hidden') return null;
      if (['submit','button','reset','image'].includes(ty)) return 'button';
      if (ty === 'checkbox') return 'checkbox';
      if (ty === 'radio') return 'radio';
      if (ty === 'range') return 'slider';
      if (ty === 'number') return 'spinbutton';
      if (ty === 'search') return 'searchbox';
      if (ty === 'file') return 'button';
      return 'textbox';
    }
    if (t === 'IMG') return clean(el.alt) ? 'img' : null;
    if (STRUCT[t]) return STRUCT[t];
    if (el.hasAttribute('onclick') || el.getAttribute('contenteditable') === 'true')
      return 'button';
    if (el.hasAttribute('data-lbi-click') && !el.querySelector(ACTIONABLE)) return 'button';
    return null;
  }
  function labelText(el) {
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const txt = by.split(/\s+/).map(i => document.getElementById(i))
        .filter(Boolean).map(e => e.textContent).join(' ');
      if (clean(txt)) return txt;
    }
    if (el.labels && el.labels.length) return Array.from(el.labels).map(l => l.textContent).join(' ');
    return '';
  }
  function nameOf(el, role) {
    const aria = el.getAttribute('aria-label');
    if (aria && clean(aria)) return aria;
    const t = el.tagName;
    if (t === 'INPUT' || t === 'SELECT' || t === 'TEXTAREA') {
      const ty = (el.type || '').toLowerCase();
      if (['submit','button','reset'].includes(ty)) return el.value || el.title || ty;
      if (ty === 'image') return el.alt || el.title || 'image';
      return labelText(el) || el.getAttribute('placeholder') || el.title || '';
    }
    if (t === 'IMG') return el.alt || el.title || '';
    let text = el.textContent;
    if (!clean(text)) {
      const img = el.querySelector('img[alt]');
      text = (img && img.alt) || el.title || '';
    }
    return text;
  }
  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 || r.height > 0 || el.tagName === 'OPTION';
  }
  const ACTIONABLE = 'a[href],button,input:not([type=hidden]),select,textarea,[role],' +
    '[onclick],[contenteditable=true],summary,[data-lbi-click]';
  function hasVisibleActionable(el) {
    for (const d of el.querySelectorAll(ACTIONABLE)) if (visible(d)) return true;
    return false;
  }
  function hasActionable(el) {
    return el.querySelector('a[href],button,input:not([type=hidden]),select,textarea,' +
      '[role],[onclick],[contenteditable=true],summary,[data-lbi-click],h1,h2,h3,h4,h5,h6,table,ul,ol,img[alt]');
  }
  const lines = [];
  const elements = [];
  let focused = null;
  const active = document.activeElement;

  function walk(node, depth) {
    if (node.nodeType === Node.TEXT_NODE) {
      const s = clean(node.textContent);
      if (s) lines.push('  '.repeat(depth) + 'StaticText ' + JSON.stringify(cut(s, maxBlock)));
      return;
    }
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const el = node;
    if (SKIP.has(el.tagName.toUpperCase())) return;
    if (!visible(el)) return;
    const role = roleOf(el);
    const pad = '  '.repeat(depth);
    if (role && INTERACTIVE_ROLES.has(role)) {
      const byListener = el.hasAttribute('data-lbi-click') && !el.hasAttribute('onclick') &&
        el.getAttribute('role') === null && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA|SUMMARY)$/.test(el.tagName);
      const bid = bidOf(el, byListener);
      let line = pad + '[' + bid + '] ' + role + ' ' + q(nameOf(el, role));
      const props = [];
      const kind = (role === 'combobox' || role === 'listbox') && el.tagName === 'SELECT'
        ? 'select' : (['textbox','searchbox','spinbutton'].includes(role) ? 'fill' : 'click');
      if (kind === 'fill') props.push('value=' + JSON.stringify(cut(el.value || el.textContent || '', 200)));
      if (role === 'checkbox' || role === 'radio') props.push(el.checked ? 'checked' : 'unchecked');
      if (el.disabled) props.push('disabled');
      if (el.required) props.push('required');
      if (el === active) { props.push('focused'); focused = bid; }
      if (role === 'link' && el.getAttribute('href')) {
        const href = el.getAttribute('href');
        if (!href.startsWith('javascript:')) props.push('url=' + JSON.stringify(cut(href, 100)));
      }
      const options = [];
      if (el.tagName === 'SELECT') {
        for (const o of el.options) options.push(clean(o.label || o.textContent));
        const sel = Array.from(el.selectedOptions).map(o => clean(o.label || o.textContent));
        props.push('selected=' + JSON.stringify(sel.join(', ')));
      }
      if (props.length) line += ' ' + props.join(' ');
      lines.push(line);
      if (options.length) lines.push(pad + '  options: ' + options.map(o => JSON.stringify(cut(o, 60))).join(', '));
      elements.push({bid, role, name: cut(clean(nameOf(el, role)), maxText), kind, options});
      return;
    }
    if (role) {
      let name = '';
      let descend = true;
      if (role === 'heading' || role === 'LabelText' || role === 'caption' ||
          ['cell','columnheader','listitem'].includes(role)) {
        descend = hasVisibleActionable(el);
        if (!descend) name = el.innerText;
      } else if (role === 'img') {
        name = nameOf(el, role);
        descend = false;
      }
      let line = pad + role + (name && clean(name) ? ' ' + q(name) : '');
      if (role === 'heading') line += ' level=' + el.tagName.slice(1);
      lines.push(line);
      if (descend) for (const c of el.childNodes) walk(c, depth + 1);
      return;
    }
    if (!hasActionable(el)) {
      const s = clean(el.textContent);
      if (s) lines.push(pad + 'StaticText ' + JSON.stringify(cut(s, maxBlock)));
      return;
    }
    for (const c of el.childNodes) walk(c, depth);
  }
  walk(document.body || document.documentElement, 0);
  const merged = [];
  for (const line of lines) {
    const prev = merged[merged.length - 1];
    const m = line.match(/^( *)StaticText (".*")$/);
    const pm = prev && prev.match(/^( *)StaticText (".*")$/);
    if (m && pm && m[1] === pm[1] && prev.length + line.length < maxBlock) {
      merged[merged.length - 1] = m[1] + 'StaticText ' +
        JSON.stringify(JSON.parse(pm[2]) + ' ' + JSON.parse(m[2]));
    } else merged.push(line);
  }
  const scroll = {x: window.scrollX, y: window.scrollY,
    height: document.documentElement.scrollHeight, viewport: window.innerHeight};
  return {text: merged.join('\n'), elements, focused, scroll};
}
"""

BOX_JS = r"""
(bid) => {
  const el = document.querySelector('[data-lbi-bid="' + CSS.escape(bid) + '"]');
  if (!el) return null;
  const r = el.getBoundingClientRect();
  return {x: r.x, y: r.y, width: r.width, height: r.height};
}
"""


class BrowserOptions(ScreenOptions):
    """Options of every browser environment (``web``, ``trac``)."""

    viewport: tuple[int, int] = Field(default=(1280, 720), description="Width and height in pixels.")
    step_timeout_ms: int = Field(default=5000, description="Time limit of an element action.")
    nav_timeout_ms: int = Field(default=15000, description="Time limit of a navigation.")
    max_text_chars: int = Field(default=20000, description="The observation text is cut here, with a note.")
    fresh_context: bool = Field(
        default=False,
        description="A new browser context per episode (~1 s slower; default: new page, cookies cleared).",
    )
    browser: Any = Field(
        default=None,
        description="A shared BrowserSession (Python callers only; default: the env starts its own Chromium).",
    )
