"""The embedded server picks llama.cpp's threads before every call from what the other processes leave free."""

import os
import re
import subprocess
import sys
import time

import pytest

from lbi.models import local_llm
from lbi.models.llama_serve import pick_threads
from lbi.models.llm import LLM

CHOICE = re.compile(r"lbi: n_threads=(\d+) \(other processes used ([\d.]+) of (\d+) cores\)")


def test_threads_are_the_cores_left_free() -> None:
    assert pick_threads(cores=2, others=0.1, limit=2) == 2  # idle: both cores
    assert pick_threads(cores=2, others=0.7, limit=2) == 1  # a core mostly busy elsewhere
    assert pick_threads(cores=2, others=2.0, limit=2) == 1  # never none
    assert pick_threads(cores=8, others=0.0, limit=4) == 4  # at most the limit
    assert pick_threads(cores=8, others=5.2, limit=4) == 3


def _last_choice(cfg) -> tuple[int, float]:
    found = CHOICE.findall(local_llm.logfile(cfg).read_text(errors="replace"))
    assert found, "the server logged no thread choice"
    threads, others, _ = found[-1]
    return int(threads), float(others)


@pytest.mark.local_model
def test_a_busy_machine_gets_one_thread_an_idle_one_more(local_model_config) -> None:
    cfg = local_model_config.local_model
    state = local_llm.ensure_running(cfg)
    assert state.per_call and state.threads == local_llm.thread_limit()
    llm = LLM(local_model_config)
    cores = os.cpu_count() or 1
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(1.5)  # the server's load window is the last second
        llm.ask("Say yes.", model="local/smollm2", max_tokens=4)
        threads, others = _last_choice(cfg)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert others > cores - 1 and threads == 1, (threads, others)
    time.sleep(1.5)
    llm.ask("Say no.", model="local/smollm2", max_tokens=4)
    threads, others = _last_choice(cfg)
    assert threads == pick_threads(cores, others, local_llm.thread_limit())
    if others < 0.5:  # nothing else ran in that second: every core the limit allows
        assert threads == local_llm.thread_limit()
