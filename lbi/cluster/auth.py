"""Ray's token authentication, switched on before any module imports Ray.

Ray 2.60 reads `RAY_AUTH_MODE` once, when it is imported: a driver that joins a cluster started with
`RAY_AUTH_MODE=token` must have it set by then, or it connects without the token and is refused. lbi turns it on
whenever a token is there to send: `RAY_AUTH_TOKEN` (the token itself), `RAY_AUTH_TOKEN_PATH` (a file holding it)
or `~/.ray/auth_token` (what `ray get-auth-token --generate` writes). A cluster started without a token accepts a
driver that sends one, so sending it whenever it exists is always safe.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")


def token_source() -> str | None:
    """Where this process would read a Ray token from, or None when there is none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path and Path(path).expanduser().is_file():
        return path
    default = DEFAULT_TOKEN_FILE.expanduser()
    return str(default) if default.is_file() else None


def enable_token_auth() -> bool:
    """Set `RAY_AUTH_MODE=token` when a token exists and the mode is not already chosen; True if it is on."""
    if token_source() is not None:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    return os.environ.get("RAY_AUTH_MODE") == "token"


TOKEN_HELP = (
    "copy the head's token file (`~/.ray/auth_token` there, or the file its "
    "RAY_AUTH_TOKEN_PATH names) to this machine's `~/.ray/auth_token`, or set RAY_AUTH_TOKEN_PATH to it"
)
