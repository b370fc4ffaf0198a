"""Web environment: Playwright driving Debian's Chromium (never a downloaded browser).

Observation: an accessibility-tree-like outline with element ids (``[bid] role "name"``,
see :mod:`lbi.envs.web.browser`), URL, title, focused element and a PNG screenshot
(``<screenshot_dir>/<episode>/<step>.png``); with ``highlight=True`` a copy of the previous
screenshot with a red box around the element the action targeted is saved as
``<step>_action.png`` (``info["action_screenshot"]``).

Navigation is confined to ``allowed_origins``: ``goto`` refuses other URLs before trying;
every document (page or frame), XHR/fetch and event-source request goes through a CDP
``Fetch`` gate that fails anything else (other hosts, other ports, ``file:``); other host
names do not even resolve (``--host-resolver-rules``); links and ``window.open`` stay in
the one tab.

Each episode gets a fresh page with no cookies or storage; the browser context and its
HTTP cache are kept (``fresh_context=True`` makes a new context per episode, ~1 s slower).
Several envs can share one :class:`BrowserSession` (one context each) to run episodes in
parallel in one thread; Playwright's sync API is bound to the thread that started it, so
use one session per thread or process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin

from playwright.sync_api import BrowserContext, Page, ViewportSize
from playwright.sync_api import Error as PlaywrightError
from pydantic import Field

from lbi.envs.actions import Action
from lbi.envs.base import BaseEnv, Candidate, EnvCrashed, Evidence, Observation, Task
from lbi.envs.registry import ConformanceContext, EnvSpec
from lbi.envs.screenshots import draw_box
from lbi.envs.web.actions import WEB_ACTIONS
from lbi.envs.web.browser import (
    BOX_JS,
    CHROMIUM_PATHS,
    CLICK_LISTENER_JS,
    CRASH_MARKERS,
    LAUNCH_ARGS,
    SINGLE_TAB_JS,
    SNAPSHOT_JS,
    BrowserOptions,
    BrowserSession,
    find_chromium,
    origin_of,
    web_signature,
)

__all__ = [
    "SPEC",
    "BrowserOptions",
    "BrowserSession",
    "CHROMIUM_PATHS",
    "LAUNCH_ARGS",
    "WEB_ACTIONS",
    "WebEnv",
    "WebOptions",
    "find_chromium",
    "origin_of",
    "web_signature",
]


class WebEnv(BaseEnv):
    """A browser confined to ``allowed_origins``; see the module docstring."""

    name: ClassVar[str] = "web"
    deterministic_reset: ClassVar[bool] = True
    actions = WEB_ACTIONS
    intro = (
        "You control a web browser. The page is shown as an accessibility tree: "
        "elements you can act on have an id in brackets, e.g. [12] or "
        "[field-summary]; use that id as bid. One action per step; when the task "
        "is done, call stop(answer) (or send_msg_to_user(answer))."
    )

    def __init__(
        self,
        start_url: str = "about:blank",
        *,
        allowed_origins: list[str] | None = None,
        screenshot_dir: str | Path | None = None,
        screenshots: bool = True,
        highlight: bool = True,
        viewport: tuple[int, int] = (1280, 720),
        step_timeout_ms: int = 5000,
        nav_timeout_ms: int = 15000,
        max_text_chars: int = 20000,
        browser: BrowserSession | None = None,
        db_path: str | Path | None = None,
        fresh_context: bool = False,
    ) -> None:
        super().__init__()
        self.fresh_context = fresh_context
        self.start_url = start_url
        origins = (
            allowed_origins if allowed_origins is not None else ([start_url] if start_url.startswith("http") else [])
        )
        self.allowed = {origin_of(o) for o in origins}
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else None
        self.screenshots = screenshots and self.screenshot_dir is not None
        self.highlight = highlight
        self.viewport: ViewportSize = {"width": viewport[0], "height": viewport[1]}
        self.step_timeout_ms = step_timeout_ms
        self.nav_timeout_ms = nav_timeout_ms
        self.max_text_chars = max_text_chars
        self.db_path = Path(db_path) if db_path else None
        self._own_browser = browser is None
        self._session = browser
        self.context: BrowserContext | None = None
        self.page: Page | None = None
        self.elements: list[dict[str, Any]] = []
        self._blocked: list[str] = []
        self._popups: list[Page] = []
        self._dialogs: list[str] = []
        self._crashed: str | None = None

    # -- lifecycle --------------------------------------------------------------------
    def _reset(self, task: Task | None) -> Observation:
        if self._session is None:
            self._session = BrowserSession()
        if not self._session.alive():
            raise EnvCrashed("the browser is not running")
        self._crashed = None
        if self.fresh_context or self.context is None:
            self._close_context()
            self.context = self._session.browser.new_context(
                viewport=self.viewport, accept_downloads=False, service_workers="block"
            )
            self.context.set_default_timeout(self.step_timeout_ms)
            self.context.set_default_navigation_timeout(self.nav_timeout_ms)
            self.context.add_init_script(SINGLE_TAB_JS)
            self.context.add_init_script(CLICK_LISTENER_JS)
            self.context.on("page", self._on_popup)
        else:  # same context (keeps the HTTP cache), new page, no cookies or storage
            self._close_page()
            self.context.clear_cookies()
        self.page = self.context.new_page()
        self._popups.clear()  # the "page" event also fired for our own new page
        self._guard(self.page)
        self.page.on("crash", lambda _p: setattr(self, "_crashed", "the page crashed"))
        self.page.on("dialog", self._on_dialog)
        url = self.start_url
        if task and task.start.get("url"):
            url = urljoin(self.start_url, str(task.start["url"]))
        if url != "about:blank":
            if not self.is_allowed(url):
                raise EnvCrashed(f"start URL {url} is not in the allowed origins")
            try:
                self.page.goto(url, wait_until="load")
            except PlaywrightError as err:
                raise EnvCrashed(f"cannot open {url}: {_short(err)}") from err
        return self._observe()

    def _close_page(self) -> None:
        if self.page is not None:
            try:
                self.page.close()
            except PlaywrightError:
                pass  # already closed with its context
        self.page = None
        for popup in self._popups:
            popup.close()
        self._popups.clear()

    def _close_context(self) -> None:
        if self.context is not None:
            try:
                self.context.close()
            except PlaywrightError:
                pass  # the browser died with it; nothing to release
        self.context = self.page = None
        self._popups.clear()

    def _close(self) -> None:
        self._close_context()
        if self._own_browser and self._session is not None:
            self._session.close()
        self._session = None

    # -- confinement ------------------------------------------------------------------
    def is_allowed(self, url: str) -> bool:
        return url in ("about:blank",) or origin_of(url) in self.allowed

    def _guard(self, page: Page) -> None:
        """Gate documents (pages, frames) and script requests through CDP ``Fetch``.

        Playwright's ``route`` would also work but disables the HTTP cache, which makes
        every Trac page reload its 25 static files (0.5 s instead of 0.15 s a step).
        Stylesheets, scripts and images are not intercepted: other hosts cannot even be
        resolved (``--host-resolver-rules``) and the agent cannot author such requests."""
        assert self.context is not None
        cdp = self.context.new_cdp_session(page)

        def paused(event: dict[str, Any]) -> None:
            url = event["request"]["url"]
            try:
                if self.is_allowed(url) or url.startswith("data:"):
                    cdp.send("Fetch.continueRequest", {"requestId": event["requestId"]})
                else:
                    if event.get("resourceType") == "Document":
                        self._blocked.append(url)
                    cdp.send("Fetch.failRequest", {"requestId": event["requestId"], "errorReason": "BlockedByClient"})
            except PlaywrightError:
                pass  # the page went away while the request was paused

        for origin in self.allowed:  # no storage carried over between episodes
            cdp.send(
                "Storage.clearDataForOrigin",
                {
                    "origin": re.sub(r":(80|443)$", "", origin),
                    "storageTypes": "local_storage,indexeddb,cache_storage,service_workers",
                },
            )
        cdp.on("Fetch.requestPaused", paused)
        cdp.send(
            "Fetch.enable",
            {
                "patterns": [
                    {"urlPattern": "*", "resourceType": kind, "requestStage": "Request"}
                    for kind in ("Document", "XHR", "Fetch", "EventSource", "Other")
                ]
            },
        )

    def _on_popup(self, page: Page) -> None:
        if page is not self.page:
            self._popups.append(page)

    def _on_dialog(self, dialog: Any) -> None:
        self._dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.accept()

    # -- acting -------------------------------------------------------------------------
    def _execute(self, action: Action) -> Observation:
        page = self.page
        if page is None:
            return self._error_obs("no page (call reset first)")
        self._blocked.clear()
        self._dialogs.clear()
        before_url = page.url
        box = self._box(action.bid) if action.bid and self.highlight else None
        shown = self.last_obs.screenshot if self.last_obs else None
        if box and shown and action.bid and not self._in_view(page, box):
            box, shown = self._shot_in_view(page, action.bid, shown)
        error: str | None = None
        try:
            error = self._perform(page, action)
            if error is None:
                page.wait_for_load_state("load", timeout=self.nav_timeout_ms)
        except PlaywrightError as err:
            if self._is_crash(err):
                return self._crash_obs(_short(err))
            error = f"{action.name}() failed: {_short(err)}"
        error = self._after_action(page, before_url, error)
        if self._crashed:
            return self._crash_obs(self._crashed)
        obs = self._observe()
        obs.last_action_error = error
        if self._dialogs:
            obs.info["dialogs"] = list(self._dialogs)
        if box and shown:
            obs.info["action_screenshot"] = draw_box(shown, box)
        return obs

    def _perform(self, page: Page, action: Action) -> str | None:
        name, args = action.name, action.args
        if action.bid is not None:
            loc = page.locator(f'[data-lbi-bid="{_css_escape(action.bid)}"]')
            if loc.count() == 0:
                return f"no element with bid {action.bid!r} on this page; use a bid from the current observation"
            loc = loc.first
            if name == "click":
                loc.click()
            elif name == "dblclick":
                loc.dblclick()
            elif name == "hover":
                loc.hover()
            elif name == "fill":
                loc.fill(args[1])
            elif name == "clear":
                loc.clear()
            elif name == "select_option":
                wanted = args[1] if isinstance(args[1], list) else [args[1]]
                have = loc.evaluate(
                    "el => el.tagName === 'SELECT' ? Array.from(el.options)"
                    ".flatMap(o => [o.value, o.label.trim()]) : null"
                )
                if have is None:
                    return f"select_option(): element {action.bid!r} is not a <select>"
                missing = [w for w in wanted if w not in have]
                if missing:
                    return (
                        f"select_option(): no option {missing[0]!r} in {action.bid!r}; "
                        f"options: {', '.join(sorted(set(have[1::2])))}"
                    )
                loc.select_option(args[1])
            elif name == "check":
                loc.check()
            elif name == "uncheck":
                loc.uncheck()
            elif name == "press":
                loc.press(args[1])
            elif name == "focus":
                loc.focus()
            return None
        if name == "scroll":
            page.evaluate("([x, y]) => window.scrollBy(x, y)", [args[0], args[1]])
        elif name == "goto":
            url = urljoin(page.url, args[0]) if page.url.startswith("http") else args[0]
            if not self.is_allowed(url):
                return f"navigation to {url} blocked: only {', '.join(sorted(self.allowed))} may be opened"
            page.goto(url, wait_until="load")
        elif name == "go_back":
            if page.go_back(wait_until="load") is None and page.url == "about:blank":
                return "no previous page"
        elif name == "go_forward":
            page.go_forward(wait_until="load")
        else:
            return f"unsupported action {name}()"
        return None

    def _after_action(self, page: Page, before_url: str, error: str | None) -> str | None:
        for popup in self._popups:
            if popup is page:
                continue
            target = popup.url
            popup.close()
            if self.is_allowed(target) and target != "about:blank":
                page.goto(target, wait_until="load")
            elif target != "about:blank":
                self._blocked.append(target)
        self._popups.clear()
        if self._blocked:
            blocked = self._blocked[0]
            if not self.is_allowed(page.url) and self.is_allowed(before_url):
                page.goto(before_url, wait_until="load")
            msg = f"navigation to {blocked} blocked: origin not allowed"
            error = f"{error}; {msg}" if error and msg not in error else (error or msg)
        elif not self.is_allowed(page.url):
            error = error or f"left the allowed origins ({page.url}); went back"
            if self.is_allowed(before_url):
                page.goto(before_url, wait_until="load")
        return error

    @staticmethod
    def _in_view(page: Page, box: dict[str, float]) -> bool:
        """Whether any of `box` lies in the viewport (the screenshot the agent saw)."""
        size = page.viewport_size or {"width": 0, "height": 0}
        return (
            box["x"] + box["width"] > 0
            and box["y"] + box["height"] > 0
            and box["x"] < size["width"]
            and box["y"] < size["height"]
        )

    def _shot_in_view(self, page: Page, bid: str, shown: str) -> tuple[dict[str, float] | None, str | None]:
        """The acted-on element lies outside the screenshot the agent saw: scroll it into view (as the action itself
        would) and shoot the page again beside that screenshot (`<step>_view.png`), so that the boxed copy shows it.
        (None, None) when it cannot be brought into view (the action then reports why)."""
        try:
            page.locator(f'[data-lbi-bid="{_css_escape(bid)}"]').first.scroll_into_view_if_needed(
                timeout=min(self.step_timeout_ms, 2000)
            )
            path = Path(shown).with_name(Path(shown).stem + "_view.png")
            page.screenshot(path=str(path), timeout=self.step_timeout_ms)
        except PlaywrightError:
            return None, None
        return self._box(bid), str(path)

    def _box(self, bid: str) -> dict[str, float] | None:
        try:
            return self.page.evaluate(BOX_JS, bid) if self.page else None
        except PlaywrightError:
            return None

    def _is_crash(self, err: PlaywrightError) -> bool:
        if self._crashed or (self._session is not None and not self._session.alive()):
            return True
        return any(m in str(err) for m in CRASH_MARKERS)

    def _crash_obs(self, detail: str) -> Observation:
        msg = f"browser crashed: {detail}"
        return Observation(
            text="", done=True, last_action_error=msg, state_signature="web:crashed", info={"crashed": msg}
        )

    # -- observing ----------------------------------------------------------------------
    def _observe(self) -> Observation:
        page = self.page
        if page is None:
            return Observation(text="", state_signature="web:blank")
        try:
            snap = page.evaluate(SNAPSHOT_JS, {})
            title, url = page.title(), page.url
        except PlaywrightError as err:
            if self._is_crash(err):
                return self._crash_obs(_short(err))
            page.wait_for_load_state("load")
            snap = page.evaluate(SNAPSHOT_JS, {})
            title, url = page.title(), page.url
        self.elements = snap["elements"]
        text = snap["text"]
        if len(text) > self.max_text_chars:
            text = (
                text[: self.max_text_chars] + f"\n… (truncated: {len(snap['text'])} characters; scroll or open a "
                "more specific page)"
            )
        shot = self._screenshot(page)
        return Observation(
            text=text,
            url=url,
            title=title,
            focused=snap["focused"],
            screenshot=shot,
            state_signature=web_signature(url, title),
            info={"scroll": snap["scroll"], "n_elements": len(self.elements), "outline": True},
        )

    def _screenshot(self, page: Page) -> str | None:
        if not self.screenshots or self.screenshot_dir is None:
            return None
        path = self.screenshot_dir / self.episode_id / f"{self._steps:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(path), timeout=self.step_timeout_ms)
        except PlaywrightError:
            return None
        return str(path)

    def page_text(self) -> str:
        """The page's full visible text (for content checks)."""
        if self.page is None:
            return ""
        try:
            return self.page.inner_text("body", timeout=self.step_timeout_ms)
        except PlaywrightError:
            return ""

    def evidence(self) -> Evidence:
        return Evidence(database=self.db_path, page_text=self.page_text())

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]:
        return [
            Candidate(e["kind"], bid=e["bid"], role=e["role"], name=e["name"], options=tuple(e.get("options") or ()))
            for e in self.elements
        ]


def _css_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _short(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return re.sub(r"^(Locator|Page|Frame|ElementHandle)\.\w+:\s*", "", text)[:300]


class WebOptions(BrowserOptions):
    """Options of the ``web`` environment."""

    start_url: str = Field(
        default="about:blank", description="Where every episode starts (a task's start.url is relative to it)."
    )
    allowed_origins: list[str] | None = Field(
        default=None, description="Origins the browser may open (default: the start URL's)."
    )
    db_path: Path | None = Field(
        default=None, description="The site's SQLite database, if db_query checks should read it."
    )


def _make(options: WebOptions) -> WebEnv:
    return WebEnv(**options.kwargs())


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    return {"start_url": ctx.resource("site_url"), "browser": ctx.resource("browser"), "screenshot_dir": ctx.tmp_path}


SPEC = EnvSpec(
    name="web",
    factory=_make,
    options=WebOptions,
    description="A Chromium browser confined to allowed origins (options: start_url, allowed_origins, "
    "screenshot_dir, ...).",
    conformance=_conformance,
)
