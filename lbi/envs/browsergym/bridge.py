"""What lbi needs to drive BrowserGym (``browsergym-core``) without forking it.

* **Debian's Chromium for every launch.** BrowserGym launches its browsers through one global Playwright
  (``browsergym.core._get_global_playwright``): the task's browser (``BrowserEnv.reset``, where ``args`` in
  ``pw_chromium_kwargs`` would clash with its own) and the chat window's (``browsergym.core.chat.Chat``, which
  passes only ``headless`` and ``args``, so it looks for a browser under ``~/.cache/ms-playwright`` that lbi never
  downloads). :func:`use_lbi_playwright` hands BrowserGym lbi's own Playwright driver (shared with the ``web``
  env of the same thread) behind a thin proxy whose ``chromium.launch`` adds Debian's executable and lbi's
  container flags to whatever BrowserGym asks for. Both launches are covered, and nothing of BrowserGym is
  patched or copied.
* **BrowserGym's action space as lbi action specs** (:func:`action_specs`): each function of the chosen
  ``HighLevelActionSet`` subsets becomes an :class:`~lbi.envs.actions.ActionSpec` (its signature, the first
  paragraph of its docstring, its first example), so lbi's parser and action grammar accept exactly BrowserGym's
  calls, and :func:`call_text` writes a parsed call back in BrowserGym's syntax (defaults left out).
* **Task ids**: :func:`ensure_registered` imports the package that registers a benchmark's tasks
  (``miniwob.click-test`` → ``browsergym.miniwob``), with one clear message when it is not installed.

Why not a separate virtual environment: ``browsergym-core`` 0.14.3 pins ``playwright==1.44`` but runs on lbi's
Playwright 1.65 (``tests/envs/browsergym/test_browsergym.py`` runs its tasks, chat window included), so ``make setup``
installs it with ``--no-deps`` plus the dependencies it imports (gymnasium, lxml, pyparsing; not ``mcp``, which
only its MCP server uses) into the shared ``.venv``, and no playwright is ever downgraded.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import threading
import typing
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lbi.envs.actions import Action, ActionSpec
from lbi.envs.base import EnvCrashed, EnvError
from lbi.envs.web.browser import LAUNCH_ARGS, _acquire_playwright, _release_playwright, find_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Playwright

DEFAULT_SUBSETS = ("chat", "infeas", "bid", "nav", "tab")  # BrowserGym's HighLevelActionSet default
OFFLINE_ARG = next(a for a in LAUNCH_ARGS if a.startswith("--host-resolver-rules"))
PACKAGES = {  # task id prefix -> (module that registers its tasks, PyPI package)
    "miniwob": ("browsergym.miniwob", "browsergym-miniwob"),
    "webarena": ("browsergym.webarena", "browsergym-webarena"),
    "visualwebarena": ("browsergym.visualwebarena", "browsergym-visualwebarena"),
    "workarena": ("browsergym.workarena", "browsergym-workarena"),
    "assistantbench": ("browsergym.assistantbench", "browsergym-assistantbench"),
    "weblinx": ("weblinx_browsergym", "weblinx-browsergym"),
    "lbi": ("lbi.envs.browsergym.trac_tasks", "lbi"),
}


class _KeptBrowser:
    """A Chromium BrowserGym may close at every reset: its contexts close (each episode still gets a new context),
    the process stays for the next launch with the same options."""

    def __init__(self, browser: Any) -> None:
        self._browser = browser

    def close(self, **_: Any) -> None:
        for context in list(self._browser.contexts):
            context.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


class _Chromium:
    """``playwright.chromium`` whose ``launch`` always uses Debian's Chromium and lbi's flags; with ``keep``, a
    browser launched with the same options before (and still running) is handed out again."""

    def __init__(self, real: Any, offline: bool, keep: bool) -> None:
        self._real, self._offline, self._keep = real, offline, keep
        self.kept: dict[str, Any] = {}

    def launch(self, **kwargs: Any) -> Any:
        kwargs.setdefault("executable_path", find_chromium())
        ours = [a for a in LAUNCH_ARGS if self._offline or a != OFFLINE_ARG]
        kwargs["args"] = [*ours, *(kwargs.get("args") or [])]
        if not self._keep:
            return self._real.launch(**kwargs)
        key = repr(sorted(kwargs.items()))
        browser = self.kept.get(key)
        if browser is None or not browser.is_connected():
            browser = self.kept[key] = self._real.launch(**kwargs)
        return _KeptBrowser(browser)

    def close_kept(self) -> None:
        for browser in self.kept.values():
            if browser.is_connected():
                browser.close()
        self.kept.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class LbiPlaywright:
    """The Playwright driver BrowserGym gets: lbi's (one per thread), with :class:`_Chromium` in front.

    ``keep_browsers``: BrowserGym closes its two browsers (the task's, the chat window's) at every reset and launches
    them again; kept, they are launched once per env and each reset only gets new contexts (~1-2 s less a reset)."""

    def __init__(self, offline: bool = True, keep_browsers: bool = True) -> None:
        self._real: Playwright | None = _acquire_playwright()
        self.chromium = _Chromium(self._real.chromium, offline, keep_browsers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def release(self) -> None:
        if self._real is not None:
            self.chromium.close_kept()
            self._real = None
            _release_playwright()


def use_lbi_playwright(pw: LbiPlaywright) -> None:
    """Make ``pw`` the Playwright every BrowserGym launch goes through (from now on, in this process)."""
    import browsergym.core

    browsergym.core._set_global_playwright(pw)


def ensure_registered(task_id: str, imports: tuple[str, ...] = ()) -> str:
    """Import what registers ``task_id`` (its benchmark package, and ``imports``); the gym id, or an
    :class:`EnvError` saying what to install or which ids exist."""
    import gymnasium as gym

    try:
        import browsergym.core  # noqa: F401  (registers "openended")
    except ImportError as err:
        raise EnvError(
            "BrowserGym is not installed: pip install --no-deps browsergym-core==0.14.3 (make setup does it)"
        ) from err
    for module in imports:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise EnvError(f"cannot import {module!r} (option imports): {err}") from err
    prefix = task_id.split(".", 1)[0]
    if prefix == "miniwob":
        ensure_miniwob_url()
    if prefix in PACKAGES:
        module, package = PACKAGES[prefix]
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise EnvError(
                f"BrowserGym task {task_id!r} needs the {package} package, which is not installed "
                f"(pip install --no-deps {package}): {err}"
            ) from err
    gym_id = f"browsergym/{task_id}"
    if gym_id not in gym.registry:
        close = sorted(k.removeprefix("browsergym/") for k in gym.registry if k.startswith(f"browsergym/{prefix}"))[:8]
        raise EnvError(
            f"unknown BrowserGym task {task_id!r}"
            + (
                f"; registered ones like it: {', '.join(close)}"
                if close
                else f"; known prefixes: {', '.join(PACKAGES)}"
            )
        )
    return gym_id


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        pass


_miniwob_lock = threading.Lock()


def ensure_miniwob_url() -> str:
    """``MINIWOB_URL``, which BrowserGym's MiniWoB++ tasks load their pages from: as set, or a static server on
    127.0.0.1 (a daemon thread of this process) over the HTML files the ``miniwob`` package (Farama) ships."""
    with _miniwob_lock:
        if os.environ.get("MINIWOB_URL"):
            return os.environ["MINIWOB_URL"]
        try:
            import miniwob
        except ImportError as err:
            raise EnvError(
                "MiniWoB++ tasks need their HTML files: pip install --no-deps miniwob==1.1.0 (make setup "
                "does it), or set MINIWOB_URL to where they are served"
            ) from err
        root = Path(miniwob.__file__).parent / "html"
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
        threading.Thread(target=server.serve_forever, daemon=True, name="miniwob-http").start()
        os.environ["MINIWOB_URL"] = f"http://127.0.0.1:{server.server_address[1]}/miniwob/"
        return os.environ["MINIWOB_URL"]


def registered_task_ids(pattern: str, imports: tuple[str, ...] = ()) -> list[str]:
    """The registered BrowserGym task ids matching a glob (``miniwob.click-*``), sorted."""
    import fnmatch

    import gymnasium as gym

    prefix = pattern.split(".", 1)[0]
    if not any(ch in prefix for ch in "*?["):
        try:
            ensure_registered(prefix + ".x", imports)
        except EnvError as err:
            if "unknown BrowserGym task" not in str(err):
                raise
    ids = sorted(k.removeprefix("browsergym/") for k in gym.registry if k.startswith("browsergym/"))
    return [i for i in ids if fnmatch.fnmatchcase(i, pattern)]


# -- actions ------------------------------------------------------------------------------------
def _param_type(annotation: Any) -> Any:
    """A BrowserGym parameter annotation as an lbi action parameter type."""
    origin = typing.get_origin(annotation)
    if annotation in (str, float, int, bool):
        return annotation
    if origin is typing.Literal:
        return str
    if origin is list:
        return list
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        kinds = tuple(dict.fromkeys(_param_type(a) for a in typing.get_args(annotation)))
        return kinds[0] if len(kinds) == 1 else kinds
    return str


def _spec_of(fn: Any) -> ActionSpec:
    params = []
    for p in inspect.signature(fn).parameters.values():
        typ = _param_type(p.annotation)
        params.append((p.name, typ) if p.default is inspect.Parameter.empty else (p.name, typ, p.default))
    doc = inspect.getdoc(fn) or ""
    head, _, rest = doc.partition("\n\n")
    examples = (
        [line.strip() for line in rest.split("Examples:", 1)[-1].splitlines() if line.strip()]
        if "Examples:" in rest
        else []
    )
    return ActionSpec(fn.__name__, tuple(params), " ".join(head.split()), examples[0] if examples else "")


def action_specs(subsets: tuple[str, ...] = DEFAULT_SUBSETS) -> dict[str, ActionSpec]:
    """BrowserGym's actions of these ``HighLevelActionSet`` subsets (noop always), as lbi specs."""
    from browsergym.core.action import functions
    from browsergym.core.action.highlevel import ACTION_SUBSETS

    unknown = [s for s in subsets if s not in ACTION_SUBSETS]
    if unknown:
        raise EnvError(f"unknown BrowserGym action subset {unknown[0]!r}; known: {', '.join(ACTION_SUBSETS)}")
    fns = [functions.noop, *(fn for s in subsets for fn in ACTION_SUBSETS[s])]
    return {fn.__name__: _spec_of(fn) for fn in dict.fromkeys(fns)}


def call_text(action: Action, spec: ActionSpec) -> str:
    """The parsed call in BrowserGym's syntax, trailing arguments equal to their defaults left out."""
    args = list(action.args)
    while args and len(spec.params[len(args) - 1]) > 2 and args[-1] == spec.params[len(args) - 1][2]:
        args.pop()
    return Action(action.name, tuple(args)).to_text()


def target_bid(action: Action, spec: ActionSpec) -> str | None:
    """The element an action acts on: its ``bid`` (or ``from_bid``) argument."""
    for i, param in enumerate(spec.params):
        if param[0] in ("bid", "from_bid") and i < len(action.args):
            return str(action.args[i])
    return None


def crashed(err: Exception) -> EnvCrashed:
    return EnvCrashed(f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}")
