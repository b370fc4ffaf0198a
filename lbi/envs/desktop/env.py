"""Desktop environment: a real application (LibreOffice Calc) under Xvfb, seen through its accessibility tree.

Each env owns a :class:`~lbi.envs.desktop.session.DesktopSession` (its own X display, openbox, a session D-Bus
with the accessibility bus, and a worker process that reads the AT-SPI tree and drives the pointer and keyboard
with xdotool), so parallel rollouts each have their own display and application.

* **Observation**: the application's showing windows as an outline with stable element ids (``[3k2q1] push
  button "Save"``, cells by address: ``[B5] cell "42"``; see :mod:`lbi.envs.desktop.view`), the window title,
  the focused element's id, and a PNG screenshot per step (``<screenshot_dir>/<episode>/<step>.png``; with
  ``highlight`` a copy of the previous one with the acted-on element boxed, ``info["action_screenshot"]``).
* **Actions** (OSWorld's, named like the web env's where they mean the same): ``click(id)``,
  ``double_click(id)``, ``right_click(id)``, ``type(text)``, ``hotkey(keys)``, ``scroll(id, dy)``,
  ``drag(id_from, id_to)``, ``click_xy(x, y)``, ``stop(answer)``.
* **Reset**: the application is stopped, its profile restored from a pristine copy (built once, cached), the
  task's document (``start = {"document": "name.xlsx"}``, from ``documents_dir``) copied into a fresh working
  directory, and the application started on it, maximized.
* **Failures**: a stale or unknown id, an unknown key name or a point off the screen come back in
  ``last_action_error``; an application that crashes or stops answering ends the episode (``done``,
  ``info["crashed"]``) and the next reset starts it (and, if needed, the whole desktop) again.

Checks read the working directory (``Evidence.workdir``: the saved document, ``sheet`` and ``file`` checks) and
the whole tree as text (``Evidence.page_text``, ``page_contains`` checks).
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from lbi.envs.actions import Action
from lbi.envs.base import BaseEnv, Candidate, EnvCrashed, Evidence, Observation, Task
from lbi.envs.desktop.actions import DESKTOP_ACTIONS, MODIFIERS, normalize_keys
from lbi.envs.desktop.apps import APPS, App
from lbi.envs.desktop.session import DesktopSession, WorkerDied
from lbi.envs.desktop.view import View, render
from lbi.envs.registry import ConformanceContext, EnvSpec, ScreenOptions
from lbi.envs.screenshots import draw_box
from lbi.paths import demo_data_dir

__all__ = ["DESKTOP_ACTIONS", "SPEC", "DesktopEnv", "DesktopOptions", "normalize_keys"]

AVOID = {"Exit LibreOffice", "Close Window", "Close"}  # exploration does not quit the application
EXPLORE_TEXTS = ("42", "Total", "=SUM(A1:A3)", "2024-01-31", "North")
HUNG_S = 20.0


class DesktopEnv(BaseEnv):
    """One application on its own X display; see the module docstring."""

    name: ClassVar[str] = "desktop"
    deterministic_reset: ClassVar[bool] = True
    actions = DESKTOP_ACTIONS
    intro = (
        "You control a desktop application with the mouse and keyboard. Its windows are shown as an "
        "accessibility tree: elements have an id in brackets, e.g. [3k2q1] for a button or [B5] for a "
        "spreadsheet cell; use that id. Cells show their value; the formula bar shows the active cell's "
        "formula. One action per step; save your work (hotkey('ctrl+s')) before you stop(answer)."
    )

    def __init__(
        self,
        app: str = "calc",
        *,
        document: str | None = None,
        documents_dir: str | Path | None = None,
        screenshot_dir: str | Path | None = None,
        screenshots: bool = True,
        highlight: bool = True,
        screen: tuple[int, int] = (1280, 800),
        settle_ms: int = 250,
        launch_timeout_s: float = 60.0,
        max_text_chars: int = 15000,
        max_cells: int = 400,
        hang_s: float = 10.0,
        session: DesktopSession | None = None,
        profile_cache: str | Path | None = None,
    ) -> None:
        super().__init__()
        if app not in APPS:
            raise EnvCrashed(f"unknown desktop application {app!r}; known: {', '.join(APPS)}")
        self.app: App = APPS[app]
        self.document = document
        self.documents_dir = Path(documents_dir) if documents_dir else default_documents_dir()
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else None
        self.screenshots = screenshots and self.screenshot_dir is not None
        self.highlight = highlight
        self.screen = screen
        self.settle_s = settle_ms / 1000
        self.launch_timeout_s = launch_timeout_s
        self.max_text_chars = max_text_chars
        self.max_cells = max_cells
        self.hang_s = hang_s
        self.profile_cache = Path(profile_cache) if profile_cache else None
        self._own_session = session is None
        self.session = session
        self.workdir: Path | None = None  # made in the desktop's folder at the first reset (gone with it)
        self.view = View(text="")
        self.timings: dict[str, float] = {}

    # -- lifecycle --------------------------------------------------------------------------------------------
    def _ensure_session(self) -> DesktopSession:
        if self.session is None or not self.session.alive:
            if self.session is not None and not self._own_session:
                raise EnvCrashed("the shared desktop session is not running")
            if self.session is not None:
                self.session.close()
            self.session = DesktopSession(*self.screen).start()
        return self.session

    def _reset(self, task: Task | None) -> Observation:
        started = time.perf_counter()
        session = self._ensure_session()
        stopped = session.request("kill_app")["seconds"]
        profile = session.run_dir / f"{self.app.name}-profile"
        sync_tree(self.app.pristine_profile(self.profile_cache), profile)
        document = self._start_document(task)
        restored = time.perf_counter()
        try:
            launch = session.request(
                "launch",
                argv=self.app.argv(profile, document),
                env={**self.app.env, "HOME": str(self.workdir)},  # file dialogs open here
                match=self.app.title(document),
                wait_s=self.launch_timeout_s,
                log=str(session.run_dir / f"{self.app.name}.log"),
                timeout_s=self.launch_timeout_s + 10,
            )
        except WorkerDied as err:
            raise EnvCrashed(f"the desktop stopped while starting {self.app.name}: {err}") from err
        obs = self._stable_observation()
        obs.info.update(
            stop_s=stopped,
            restore_s=round(restored - started, 3),
            launch_s=launch["seconds"],
            reset_s=round(time.perf_counter() - started, 3),
            document=str(document or ""),
        )
        return obs

    def _stable_observation(self, limit_s: float = 6.0) -> Observation:
        """Observe once the layout stops moving (the window maximized, the document laid out): an observation
        taken while it moves would send clicks to the wrong cells. A quick look at the layout (no cells, no
        screenshot), then full observations until one has the layout of the look before it."""
        assert self.session is not None
        deadline = time.perf_counter() + limit_s
        try:
            quick = self.session.request("observe", cells=False, timeout_s=HUNG_S)
        except WorkerDied as err:
            return self._crash_obs(str(err))
        before = _layout(quick.get("nodes", []))
        looks = 1
        while True:
            time.sleep(self.settle_s)
            obs = self._observe()
            looks += 1
            now = _layout(list(self.view.elements.values()))
            if obs.done or now == before or time.perf_counter() > deadline:
                obs.info["layout_looks"] = looks
                return obs
            before = now

    def _start_document(self, task: Task | None) -> Path | None:
        """The working directory emptied (but for the application's hidden caches: it is also its home) and the
        task's document (or the env's) copied into it from its pristine file."""
        if self.workdir is None or not self.workdir.parent.is_dir():
            assert self.session is not None
            self.workdir = Path(tempfile.mkdtemp(prefix="work-", dir=self.session.run_dir))
        for entry in self.workdir.iterdir():
            if not entry.name.startswith("."):
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
        name = (task.start.get("document") if task else None) or self.document
        if not name:
            return None
        source = Path(name) if Path(name).is_absolute() else self.documents_dir / name
        if not source.is_file():
            raise EnvCrashed(f"document {source} not found")
        target = self.workdir / source.name
        shutil.copy2(source, target)
        return target

    def _close(self) -> None:
        if self.session is not None and self._own_session:
            self.session.close()
        elif self.session is not None and self.session.alive:
            self.session.request("kill_app")
        self.session = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- acting -------------------------------------------------------------------------------------------------
    def _execute(self, action: Action) -> Observation:
        if self.session is None or not self.session.alive:
            return self._crash_obs("the desktop is not running (call reset)")
        box = None
        try:
            error, box = self._perform(action)
            if error is None:
                time.sleep(self.settle_s)
        except WorkerDied as err:
            return self._crash_obs(str(err))
        status = self.session.request("status")
        if not status["running"]:
            return self._crash_obs(f"{self.app.name} exited (code {status['code']})")
        obs = self._observe()
        if (
            action.name == "type"
            and not error
            and not obs.done
            and self.last_obs is not None
            and obs.text == self.last_obs.text
        ):  # typed, nothing shows yet: a busy application lags behind
            time.sleep(self.settle_s)
            obs = self._observe()
        obs.last_action_error = obs.last_action_error or error
        if box and self.highlight and self.last_obs and self.last_obs.screenshot:
            obs.info["action_screenshot"] = draw_box(self.last_obs.screenshot, box)
        return obs

    def _element(self, eid: str) -> dict[str, Any] | str:
        node = self.view.elements.get(eid) or self.view.elements.get(eid.upper()) or self.view.cell(eid)
        if node is None:
            return (
                f"no element with id {eid!r} in the current observation (it may have closed or moved); "
                "use an id from the latest observation"
            )
        if not node.get("box"):
            return f"element {eid!r} ({node['role']}) has no place on the screen"
        return node

    def _center(self, node: dict[str, Any]) -> tuple[int, int]:
        x, y, w, h = node["box"]
        return int(x + w / 2), int(y + h / 2)

    def _perform(self, action: Action) -> tuple[str | None, dict[str, float] | None]:
        name, args = action.name, action.args
        assert self.session is not None
        xdo = self._xdo
        if name in ("click", "double_click", "right_click", "scroll"):
            node = self._element(args[0])
            if isinstance(node, str):
                return node, None
            x, y = self._center(node)
            if name == "scroll":
                steps = int(round(args[1]))
                if steps:
                    xdo(
                        [
                            "mousemove",
                            str(x),
                            str(y),
                            "click",
                            "--repeat",
                            str(min(abs(steps), 50)),
                            "--delay",
                            "20",
                            "5" if steps > 0 else "4",
                        ]
                    )
            else:
                button = "3" if name == "right_click" else "1"
                repeat = ["--repeat", "2", "--delay", "80"] if name == "double_click" else []
                xdo(["mousemove", str(x), str(y), "click", *repeat, button])
            return None, _box(node)
        if name == "drag":
            ends = [self._element(eid) for eid in args]
            bad = next((e for e in ends if isinstance(e, str)), None)
            if bad:
                return bad, None
            nodes = [e for e in ends if not isinstance(e, str)]
            (x0, y0), (x1, y1) = (self._center(e) for e in nodes)
            xdo(
                [
                    "mousemove",
                    str(x0),
                    str(y0),
                    "mousedown",
                    "1",
                    "sleep",
                    "0.1",
                    "mousemove",
                    str((x0 + x1) // 2),
                    str((y0 + y1) // 2),
                    "sleep",
                    "0.1",
                    "mousemove",
                    str(x1),
                    str(y1),
                    "sleep",
                    "0.1",
                    "mouseup",
                    "1",
                ]
            )
            return None, _box(nodes[0])
        if name == "click_xy":
            x, y = int(args[0]), int(args[1])
            if not (0 <= x < self.screen[0] and 0 <= y < self.screen[1]):
                return f"click_xy({x}, {y}) is off the screen ({self.screen[0]}x{self.screen[1]})", None
            xdo(["mousemove", str(x), str(y), "click", "1"])
            return None, {"x": x - 6, "y": y - 6, "width": 12, "height": 12}
        if name == "type":
            self._type(args[0])
            return None, None
        if name == "hotkey":
            keys = normalize_keys(args[0])
            if not keys:
                return "hotkey(): no key given, e.g. hotkey('ctrl+s')", None
            unknown = self.session.request("keysym_ok", names=[k for k in keys if k not in MODIFIERS])["unknown"]
            if unknown:
                return (
                    f"hotkey(): unknown key name(s) {', '.join(map(repr, unknown))}; use names like ctrl+s, "
                    "enter, escape, tab, delete, f2, up, pagedown"
                ), None
            xdo(["key", "+".join(keys)])
            return None, None
        return f"unsupported action {name}()", None

    def _xdo(self, args: list[str]) -> None:
        assert self.session is not None
        self.session.request("xdotool", args=args, timeout_s=HUNG_S)

    def _type(self, text: str) -> None:
        """xdotool types a newline as a linefeed, which LibreOffice ignores: Enter and Tab are pressed as keys."""
        chunk = ""
        for char in text:
            if char in "\n\t":
                if chunk:
                    self._xdo(["type", "--delay", "4", "--", chunk])
                    chunk = ""
                self._xdo(["key", "Return" if char == "\n" else "Tab"])
            else:
                chunk += char
        if chunk:
            self._xdo(["type", "--delay", "4", "--", chunk])

    # -- observing ----------------------------------------------------------------------------------------------
    def _observe(self) -> Observation:
        if self.session is None or not self.session.alive:
            return self._crash_obs("the desktop is not running")
        shot = None
        if self.screenshots and self.screenshot_dir is not None:
            shot = str(self.screenshot_dir / self.episode_id / f"{self._steps:03d}.png")
        started = time.perf_counter()
        while True:
            try:
                snap = self.session.request("observe", screenshot=shot, max_cells=self.max_cells, timeout_s=HUNG_S)
            except WorkerDied as err:
                return self._crash_obs(str(err))
            if snap.get("crashed"):
                return self._crash_obs(f"{self.app.name} exited (code {snap.get('code')})")
            if snap.get("nodes") and not snap.get("hung"):
                break
            # No answer, or no window that answers: busy (saving, on a loaded machine) or hung. Wait a while.
            if time.perf_counter() - started > self.hang_s:
                self.session.request("kill_app")
                return self._crash_obs(
                    f"{self.app.name} stopped responding for {self.hang_s:g}s ({snap.get('error')}); it was stopped"
                )
            time.sleep(0.5)
        self.view = render(snap, self.max_text_chars)
        text = self.view.text
        if self.view.dialogs:
            text = f"(a dialog is open: {', '.join(self.view.dialogs)})\n" + text
        return Observation(
            text=text,
            title=self.view.title,
            focused=self.view.focused,
            screenshot=snap.get("screenshot"),
            state_signature=self._signature(),
            info={
                "n_elements": len(self.view.elements),
                "tree_chars": len(self.view.text),
                "observe_s": round(time.perf_counter() - started, 3),
                "tree_s": snap.get("seconds"),
                "table_s": snap.get("table_s"),
                "dialogs": self.view.dialogs,
                "window": self.view.active,
            },
        )

    def _signature(self) -> str:
        """The state for observation-based retrieval: the application, its active window and any open menu."""
        parts = [
            self.app.name,
            (self.view.active or "none").split(":", 1)[0]
            if self.view.active == "frame"
            else self.view.active or "none",
        ]
        if self.view.menus:
            parts.append("menu:" + "/".join(self.view.menus))
        return "desktop:" + ":".join(parts)

    def _crash_obs(self, detail: str) -> Observation:
        return Observation(
            text="", done=True, last_action_error=detail, state_signature="desktop:crashed", info={"crashed": detail}
        )

    def evidence(self) -> Evidence:
        return Evidence(workdir=self.workdir, page_text=self.view.text)

    def interactive_elements(self, obs: Observation | None = None) -> list[Candidate]:
        """Enabled, visible elements to click (not the ones that quit), plus typing and the keys that commit or
        close (Enter, Escape, Tab), for exploration."""
        out = [
            Candidate("click", bid=eid, role=node["role"], name=node.get("name") or node.get("text") or "")
            for eid, node in self.view.actionable()
            if node.get("name") not in AVOID
        ]
        seed = int(hashlib.sha1((obs.text if obs else self.view.text).encode()).hexdigest(), 16)
        out.append(Candidate("action", action=f'type("{EXPLORE_TEXTS[seed % len(EXPLORE_TEXTS)]}\\n")'))
        out += [Candidate("action", action=f"hotkey('{key}')") for key in ("enter", "escape", "tab")]
        return out


def sync_tree(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source``, copying only the files that differ (size or modification time) and
    deleting what ``source`` lacks: a profile the application barely touched is restored in milliseconds."""
    target.mkdir(parents=True, exist_ok=True)
    wanted = {p.relative_to(source): p for p in source.rglob("*")}
    for rel in sorted((p.relative_to(target) for p in target.rglob("*")), reverse=True):
        here = target / rel
        if rel not in wanted or here.is_dir() != wanted[rel].is_dir() or here.is_symlink():
            shutil.rmtree(here) if here.is_dir() and not here.is_symlink() else here.unlink()
    for rel, src in sorted(wanted.items()):
        dst = target / rel
        if src.is_dir():
            dst.mkdir(exist_ok=True)
            continue
        have, want = (dst.stat() if dst.exists() else None), src.stat()
        if have is None or (have.st_size, have.st_mtime_ns) != (want.st_size, want.st_mtime_ns):
            shutil.copy2(src, dst)


def _layout(nodes: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Where everything but the cells is: equal layouts mean nothing moved."""
    return [(n["path"], n.get("box")) for n in nodes if n["role"] != "table cell"]


def _box(node: dict[str, Any]) -> dict[str, float]:
    x, y, w, h = node["box"]
    return {"x": x, "y": y, "width": w, "height": h}


def default_documents_dir() -> Path:
    return demo_data_dir() / "desktop" / "documents"


def calc_help_dir() -> Path | None:
    """LibreOffice Calc's offline help (Debian's ``libreoffice-help-en-us``), if installed."""
    path = APPS["calc"].help_dir
    return path if path and path.is_dir() else None


class DesktopOptions(ScreenOptions):
    """Options of the ``desktop`` environment."""

    app: str = Field(default="calc", description="The application: " + ", ".join(APPS) + ".")
    document: str | None = Field(
        default=None,
        description="The document every episode opens when its task names none (a file in documents_dir, or a path).",
    )
    documents_dir: Path | None = Field(
        default=None, description="Where tasks' documents are (default: the bundled data/desktop/documents)."
    )
    screen: tuple[int, int] = Field(default=(1280, 800), description="Width and height of the X display.")
    settle_ms: int = Field(default=250, description="Wait after an action before observing.")
    launch_timeout_s: float = Field(default=60.0, description="Time limit for the application to show its window.")
    max_text_chars: int = Field(default=15000, description="The observation text is cut here.")
    max_cells: int = Field(default=400, description="At most this many non-empty visible cells are listed.")
    hang_s: float = Field(
        default=10.0,
        description="An application that answers no accessibility call for this "
        "long is hung: it is stopped and the episode ends.",
    )
    session: Any = Field(default=None, description="A running DesktopSession to share (Python callers only).")


def _make(options: DesktopOptions) -> DesktopEnv:
    return DesktopEnv(**options.kwargs())


def _conformance(ctx: ConformanceContext) -> dict[str, Any]:
    return {"session": ctx.resource("desktop_session"), "screenshot_dir": ctx.tmp_path}


SPEC = EnvSpec(
    name="desktop",
    factory=_make,
    options=DesktopOptions,
    description="A desktop application (LibreOffice Calc) under Xvfb, seen through its accessibility tree "
    "(options: app, document, documents_dir, screenshot_dir, ...).",
    default_docs=calc_help_dir,
    conformance=_conformance,
    try_options={"document": "grades.xlsx"},
)
