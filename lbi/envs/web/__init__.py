"""The web family: a browser environment and the bundled Trac demo it acts on.

* `env`: the ``web`` environment (Playwright driving Debian's Chromium), its options and ``SPEC``;
* `browser`: the browser session, the page snapshot script, origins and state signatures;
* `actions`: the web actions (BrowserGym's names), which need no browser;
* `trac_server`: the Trac demo server (build, start, reset, stop), which needs no browser;
* `trac_env`: the ``trac`` environment, the web env on a Trac demo, and its ``TRAC_SPEC``.

The face gives ``SPEC`` (``web``) and ``TRAC_SPEC`` (``trac``) when asked for, so importing the light modules
(`actions`, `trac_server`) does not load Playwright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbi.envs.registry import EnvSpec

__all__ = ["SPEC", "TRAC_SPEC"]


def __getattr__(name: str) -> EnvSpec:
    if name == "SPEC":
        from lbi.envs.web.env import SPEC

        return SPEC
    if name == "TRAC_SPEC":
        from lbi.envs.web.trac_env import TRAC_SPEC

        return TRAC_SPEC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
