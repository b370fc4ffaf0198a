"""Process helpers shared by the environments and the rollout workers."""

from __future__ import annotations

import ctypes
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies, even by `kill -9` (Linux only).

    Used in a child before `exec` (as `preexec_fn`) and at the start of worker processes, so that
    killing a run never leaves servers or workers behind.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
