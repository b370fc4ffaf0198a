"""The embedded model server: llama-cpp-python's OpenAI-compatible server, with llama.cpp's thread count picked
before every call from the CPU the rest of the machine leaves free.

Why per call: on 2 cores, 2 threads make an idle machine's Trac act call 1.5× faster than 1 (3.8 s against
5.7 s), but when anything else keeps one core busy they collapse (63-108 s a call against 6.4 s with 1 thread:
llama.cpp's threads wait on each other at every step). The load of a synthesis run comes and goes (a browser
rendering, a judge batch), so a thread count fixed at start is wrong half the time. A sampler thread measures,
every `SAMPLE_S`, how many cores the other processes used (the machine's busy time less this server's own);
each call takes `pick_threads` of the last second's average, under the server's lock, so no other call of
this server is running then. Run as `python -m lbi.models.llama_serve --config_file F --max-threads N`.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time

import psutil

SAMPLE_S = 0.2
WINDOW = 5  # samples: the last second
IDLE_CORE = 0.5
"""Other processes using less than this share of a core leave it free."""


def pick_threads(cores: int, others: float, limit: int) -> int:
    """Threads for one call: the cores the other processes leave free (a core they use less than half of counts
    as free), at most `limit`, at least 1."""
    return max(1, min(limit, int(cores - others + IDLE_CORE)))


class OtherLoad:
    """Cores used by every process but this one, averaged over the last second (a daemon sampler thread)."""

    def __init__(self) -> None:
        self.samples: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self.me = psutil.Process()
        threading.Thread(target=self._run, name="load-sampler", daemon=True).start()

    def _busy(self) -> tuple[float, float, float]:
        times = psutil.cpu_times()
        own = self.me.cpu_times()
        return time.monotonic(), sum(times) - times.idle - getattr(times, "iowait", 0.0), own.user + own.system

    def _run(self) -> None:
        last = self._busy()
        while True:
            time.sleep(SAMPLE_S)
            now = self._busy()
            elapsed = now[0] - last[0]
            if elapsed > 0:
                self.samples.append(max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / elapsed)
            last = now

    def cores(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0


def adapt(limit: int) -> None:
    """Make every call of the server's model proxy set the model's threads first (`pick_threads`)."""
    import llama_cpp
    from llama_cpp.server.model import LlamaProxy

    load, cores, choose = OtherLoad(), os.cpu_count() or 1, LlamaProxy.__call__

    def call(self: LlamaProxy, model: str | None = None) -> llama_cpp.Llama:
        llama = choose(self, model)
        others = load.cores()
        threads = pick_threads(cores, others, limit)
        llama_cpp.llama_set_n_threads(llama.ctx, threads, threads)
        print(f"lbi: n_threads={threads} (other processes used {others:.2f} of {cores} cores)", file=sys.stderr,
              flush=True)
        return llama

    LlamaProxy.__call__ = call  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config_file", required=True)
    parser.add_argument("--max-threads", type=int, default=0, help="0: the config's fixed thread count")
    args, rest = parser.parse_known_args()
    if args.max_threads:
        adapt(args.max_threads)
    from llama_cpp.server.__main__ import main as serve

    sys.argv = [sys.argv[0], "--config_file", args.config_file, *rest]
    serve()


if __name__ == "__main__":
    main()
