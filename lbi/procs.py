"""Process helpers shared by the environments, the rollout workers, the store's reads and the jobs."""

from __future__ import annotations

import ctypes
import os
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


def is_alive(pid: int | None) -> bool:
    """Is process `pid` running? A child of ours that has finished is reaped (and is not)."""
    if not pid:
        return False
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child: fall back to a signal probe
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
