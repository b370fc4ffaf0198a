"""Keep API keys out of everything lbi writes.

Keys come from the environment only. Before any text reaches the store, the cache, a log or an
export, `redact` replaces the value of every secret-looking environment variable with a marker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

_SECRET_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|ACCESS_KEY)", re.IGNORECASE)
_KEY_SHAPE = re.compile(r"\b(sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{16,}|AIza[0-9A-Za-z_\-]{30,})\b")
MIN_SECRET_LEN = 8


def secret_values() -> list[str]:
    """Values of environment variables whose names look like credentials (longest first)."""
    values = {value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LEN}
    return sorted(values, key=len, reverse=True)


def redact(text: str, values: Sequence[str] | None = None) -> str:
    """Replace secret values from the environment (or `values`, `secret_values()` read once for many texts), and
    anything shaped like a provider key."""
    if not text:
        return text
    for value in secret_values() if values is None else values:
        if value in text:
            text = text.replace(value, "[REDACTED]")
    return _KEY_SHAPE.sub("[REDACTED]", text)
