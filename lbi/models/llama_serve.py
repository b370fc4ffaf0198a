"""The embedded model server: llama-cpp-python's OpenAI-compatible server, with llama.cpp's thread count picked
before every decode (a prompt batch, a generated token) from the CPU the rest of the machine leaves free.

Why: on 2 cores, 2 threads make an idle machine's Trac act call 1.5× faster than 1 (3.8 s against 5.7 s), but
when anything else keeps one core busy they collapse (63-108 s a call against 6.4 s with 1 thread: llama.cpp's
threads wait on each other at every step). The load of a synthesis run comes and goes (a browser rendering
the page the agent is about to read, a judge batch), so a count fixed at start is wrong half the time, and so
is one fixed per call: the page's rendering ends as the call begins. A sampler thread measures, every
`SAMPLE_S`, how many cores the other processes used (the machine's busy time less this server's own, so the
server's own work never counts); each decode takes `pick_threads` of the last `WINDOW` samples taken since
its call began, and a call waits `FRESH` samples before its first (the client was busy building the request
until it sent it). Run as `python -m lbi.models.llama_serve --config_file F --max-threads N`.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time

import psutil

SAMPLE_S = 0.05
BUSY_SAMPLE_S = 0.25
"""Between a call's first decode and its end the sampler wakes less often: each wake-up takes a core from one
of llama.cpp's threads, which the others then wait for."""
WINDOW = 4  # samples: the last 0.2 s
FRESH = 2
"""Samples a call waits for before its first decode (0.1 s)."""
IDLE_CORE = 0.5
"""Other processes using less than this share of a core leave it free."""


def pick_threads(cores: int, others: float, limit: int) -> int:
    """Threads for one call: the cores the other processes leave free (a core they use less than half of counts
    as free), at most `limit`, at least 1."""
    return max(1, min(limit, int(cores - others + IDLE_CORE)))


class OtherLoad:
    """Cores used by every process but this one, sampled every `SAMPLE_S` by a daemon thread; the last
    `WINDOW` samples are kept."""

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=WINDOW)  # (at, cores)
        self.me = psutil.Process()
        self.interval = SAMPLE_S
        threading.Thread(target=self._run, name="load-sampler", daemon=True).start()

    def _busy(self) -> tuple[float, float, float]:
        times = psutil.cpu_times()
        own = self.me.cpu_times()
        return time.monotonic(), sum(times) - times.idle - getattr(times, "iowait", 0.0), own.user + own.system

    def _run(self) -> None:
        last = self._busy()
        while True:
            time.sleep(self.interval)
            now = self._busy()
            elapsed = now[0] - last[0]
            if elapsed > 0:
                self.samples.append((now[0], max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / elapsed))
            last = now

    def cores(self, since: float = 0.0) -> float:
        """The average of the kept samples taken after `since`."""
        recent = [cores for at, cores in list(self.samples) if at >= since]
        return sum(recent) / len(recent) if recent else 0.0

    def fresh(self, count: int = FRESH) -> float:
        """Wait for `count` samples taken from now on and give now: the process that sent a request worked
        until it sent it (building the prompt), and waits from then on, so what came before says little."""
        self.interval = SAMPLE_S
        start = time.monotonic()
        deadline = start + (count + 2) * BUSY_SAMPLE_S
        while sum(at > start for at, _ in list(self.samples)) < count and time.monotonic() < deadline:
            time.sleep(SAMPLE_S / 4)
        self.interval = BUSY_SAMPLE_S
        return start


def adapt(limit: int) -> None:
    """Make every decode of the server's models set its threads first (`pick_threads`), and log each call's
    first choice."""
    import llama_cpp
    from llama_cpp import _internals
    from llama_cpp.server.model import LlamaProxy

    load, cores = OtherLoad(), os.cpu_count() or 1
    decode, choose = _internals.LlamaContext.decode, LlamaProxy.__call__
    decodes: collections.Counter[int] = collections.Counter()  # of the call under way, by threads
    started = [0.0]  # when the call under way began: earlier samples do not count

    def threads_now(ctx: _internals.LlamaContext) -> tuple[int, float]:
        others = load.cores(since=started[0])
        threads = pick_threads(cores, others, limit)
        llama_cpp.llama_set_n_threads(ctx.ctx, threads, threads)  # a field llama.cpp reads at its next decode
        return threads, others

    def adaptive_decode(self: _internals.LlamaContext, batch: _internals.LlamaBatch) -> None:
        decodes[threads_now(self)[0]] += 1
        decode(self, batch)

    def call(self: LlamaProxy, model: str | None = None) -> llama_cpp.Llama:
        llama = choose(self, model)
        if decodes:
            print(f"lbi: the last call's decodes by threads: {dict(sorted(decodes.items()))}", file=sys.stderr)
            decodes.clear()
        started[0] = load.fresh()
        threads, others = threads_now(llama._ctx)
        print(
            f"lbi: n_threads={threads} (other processes used {others:.2f} of {cores} cores)",
            file=sys.stderr,
            flush=True,
        )
        return llama

    _internals.LlamaContext.decode = adaptive_decode  # type: ignore[method-assign]
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
