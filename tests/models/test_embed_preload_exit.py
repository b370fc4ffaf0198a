"""A process that starts the embedder preload and ends before it finished still exits.

The preload thread imports torch and sentence-transformers. As a daemon it was killed mid-import at interpreter
exit, leaving an import lock held; litellm's HTTP client imports in its finalizer and then waited on that lock
forever (a resumed `lbi synthesize` with nothing left to do hung after printing its funnel)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler
from lbi.models.embed import preload
preload()
client = AsyncHTTPHandler()  # finalized at exit, while the preload may still be importing
print("done")
"""


def test_a_process_ending_during_the_preload_exits() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "done" in proc.stdout, proc.stderr[-2000:]
