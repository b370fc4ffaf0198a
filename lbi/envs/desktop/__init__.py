"""The desktop family: a real application (LibreOffice Calc) under Xvfb, seen through its accessibility tree.

* `env`: the ``desktop`` environment, its options and ``SPEC``;
* `actions`: the desktop actions (OSWorld's) and key names;
* `apps`: the applications it can run (how to start one, its profile, its help);
* `session`: the client of one desktop worker process (an X display, a bus, one application);
* `view`: the accessibility tree as the agent's outline, with stable element ids;
* `checks`: the ``sheet`` check kind (what a saved spreadsheet holds, read with openpyxl);
* `worker` and `tree`: the worker process and its reading of the AT-SPI tree. These two run under Debian's
  ``/usr/bin/python3``, not lbi's virtual environment, with only the standard library and ``gi``: `session`
  starts ``worker.py`` as a script by its path, and it imports `tree` from its own folder.

The face gives ``SPEC`` when asked for (the worker's modules never import it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbi.envs.registry import EnvSpec

__all__ = ["SPEC"]


def __getattr__(name: str) -> EnvSpec:
    if name == "SPEC":
        from lbi.envs.desktop.env import SPEC

        return SPEC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
