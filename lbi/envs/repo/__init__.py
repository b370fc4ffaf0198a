"""The repo family: a git repository in the bubblewrap sandbox, SWE-bench style.

* `env`: the ``repo`` environment, its options and ``SPEC``;
* `snapshot`: pristine snapshots of a repository and the episode trees made from them;
* `harness`: judging a patch as SWE-bench's harness does (a fresh tree, the patch, the named tests);
* `commands`: the commands as text (the wrapper, their kind, their report, the diff block, explore commands),
  which the workbench reads without building an environment;
* `docs`: a repository's own documentation (README, docs/, docstrings) as a folder lbi loads;
* `bugs`: bug-fix tasks made by injecting bugs the repository's own tests catch.

The face gives ``SPEC`` when asked for, so the light modules load without the environment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lbi.envs.registry import EnvSpec

__all__ = ["SPEC"]


def __getattr__(name: str) -> EnvSpec:
    if name == "SPEC":
        from lbi.envs.repo.env import SPEC

        return SPEC
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
