"""The BrowserGym family: BrowserGym's tasks as an lbi environment, and lbi's tasks as BrowserGym's.

* `env`: the ``browsergym`` environment (any registered BrowserGym task), its options and ``SPEC``;
* `bridge`: what lbi needs to drive ``browsergym-core`` without forking it (Debian's Chromium, task ids, actions);
* `benchmark`: a benchmark's task ids × seeds as lbi tasks, with the held-out/synthesis leakage check;
* `trac_tasks`: the reverse direction, lbi's held-out Trac tasks registered as BrowserGym tasks.

The face gives ``SPEC`` when asked for, so `bridge` and `benchmark` load without the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbi.envs.registry import EnvSpec

__all__ = ["SPEC"]


def __getattr__(name: str) -> EnvSpec:
    if name == "SPEC":
        from lbi.envs.browsergym.env import SPEC

        return SPEC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
