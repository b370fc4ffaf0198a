"""Typed failures. `UserError` is every failure a user can fix (a bad flag, file, config, model, database):
its message names what to do, and the CLI prints it as one `error:` line with exit code 2. The kinds below
and those of the other packages (`ConfigError`, `StoreError`, `DocsError`, `EnvError`, `TaskFileError`,
`LocalModelError`) derive from it. Raise them where the fault is found (the library, not the CLI), so the
pages show the same message."""

from __future__ import annotations

from collections.abc import Collection
from typing import TypeVar, cast

V = TypeVar("V")


class UserError(Exception):
    """A failure the user can fix; the message says how."""


class UnknownChoiceError(UserError, ValueError):
    """A flag or setting names a value outside its choices (a backward mode, a judge policy, an export
    format...); the message lists the choices."""


class NotFoundError(UserError, LookupError):
    """The project lacks what a command works on (held-out tasks, a task id); the message says how to add it."""


class OutputPathError(UserError, OSError):
    """A file cannot be written where the user asked (a folder, a path through a file, no permission)."""


def check_choice(what: str, value: object, choices: Collection[V]) -> V:
    """`value` if it is one of `choices` (as their type: a ``Literal`` of them), else `UnknownChoiceError` naming
    `what` and the choices."""
    if value not in choices:
        raise UnknownChoiceError(f"unknown {what} {value!r}; choose one of: {', '.join(map(str, choices))}")
    return cast(V, value)


class ModelError(UserError):
    """A model call failed for good; the message says what to fix."""


class ModelAuthError(ModelError):
    """The provider refused the credentials (not retried)."""


class ContextWindowError(ModelError):
    """The prompt plus the reply budget do not fit the model's context window (not retried); a caller
    that can ask for less (e.g. fewer spans per call) may split the work."""


class UnknownModelError(ModelError):
    """The model string names no model: litellm does not know it, or no model was trained under its name
    (`local/NAME`)."""


class OutputParseError(ModelError):
    """The reply never matched the requested schema; `raw` keeps the last reply."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw
