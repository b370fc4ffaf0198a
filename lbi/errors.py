"""Typed failures. `UserError` is every failure a user can fix (a bad flag, file, config, model, database):
its message names what to do, and the CLI prints it as one `error:` line with exit code 2. The kinds below
and those of the other packages (`ConfigError`, `StoreError`, `DocsError`, `EnvError`, `TaskFileError`,
`LocalModelError`) derive from it."""

from __future__ import annotations


class UserError(Exception):
    """A failure the user can fix; the message says how."""


class ModelError(UserError):
    """A model call failed for good; the message says what to fix."""


class ModelAuthError(ModelError):
    """The provider refused the credentials (not retried)."""


class ContextWindowError(ModelError):
    """The prompt plus the reply budget do not fit the model's context window (not retried); a caller
    that can ask for less (e.g. fewer spans per call) may split the work."""


class UnknownModelError(ModelError):
    """litellm does not know the model string."""


class OutputParseError(ModelError):
    """The reply never matched the requested schema; `raw` keeps the last reply."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw
