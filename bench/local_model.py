"""Local model throughput: the embedded model through lbi's model layer vs llama.cpp directly.

Same prompts, same `max_tokens`, temperature 0, interleaved so load changes hit every path alike:
1. `lbi.models.llm.LLM.complete` with `local/smollm2` (cache off, usage logged to a store: the real path);
2. plain HTTP to the same llama.cpp server (`POST /v1/chat/completions`);
3. `llama_cpp.Llama` in this process (same GGUF, same thread count), when `--in-process` is on.
Also the per-call overhead: the same calls with `max_tokens=1`.

Goal (issue 7): lbi's tokens/s ≥ 90% of direct.

    .venv/bin/python bench/local_model.py                 # 5 rounds x 4 prompts, max_tokens 96
    .venv/bin/python bench/local_model.py --rounds 10 --max-tokens 256
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_PORT, bench_config, local_model, machine, table, write_result  # noqa: E402

from lbi.models import local_llm  # noqa: E402
from lbi.models.llm import LLM  # noqa: E402
from lbi.store.db import Store  # noqa: E402

PROMPTS = [
    "Explain in a few sentences what a ticket milestone is in an issue tracker.",
    "Write three short instructions a user could give to an assistant working in a bug tracker.",
    "Describe the steps to create a new wiki page in Trac.",
    "List some fields a bug report usually has, with one line about each.",
]


def via_lbi(llm: LLM, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, int, int]:
    start = time.perf_counter()
    result = llm.complete(messages, role="agent", purpose="bench", max_tokens=max_tokens, temperature=0.0)
    return time.perf_counter() - start, result.completion_tokens, result.prompt_tokens


def via_http(url: str, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, int, int]:
    body = json.dumps(
        {"model": local_llm.ALIAS, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0}
    ).encode()
    request = urllib.request.Request(f"{url}/chat/completions", data=body, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as resp:
        payload = json.loads(resp.read())
    elapsed = time.perf_counter() - start
    usage = payload.get("usage", {})
    return elapsed, int(usage.get("completion_tokens", 0)), int(usage.get("prompt_tokens", 0))


def in_process(threads: int, n_ctx: int) -> Any:
    from llama_cpp import Llama

    return Llama(
        model_path=str(local_llm.default_model_path()),
        n_threads=threads,
        n_threads_batch=threads,
        n_ctx=n_ctx,
        verbose=False,
    )


def via_llama(model: Any, messages: list[dict[str, str]], max_tokens: int) -> tuple[float, int, int]:
    start = time.perf_counter()
    out = model.create_chat_completion(messages=messages, max_tokens=max_tokens, temperature=0.0)
    elapsed = time.perf_counter() - start
    return elapsed, int(out["usage"]["completion_tokens"]), int(out["usage"]["prompt_tokens"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--overhead-calls", type=int, default=9, help="max_tokens=1 calls per path")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: auto, as lbi picks)")
    parser.add_argument("--no-in-process", action="store_true", help="skip llama_cpp.Llama in this process")
    args = parser.parse_args()

    config = bench_config("local/smollm2", port=args.port, threads=args.threads)
    threads = config.local_model.threads or local_llm.auto_threads()
    start_machine = machine()
    print(
        f"local_model: {args.rounds} rounds x {len(PROMPTS)} prompts, max_tokens {args.max_tokens}, "
        f"{threads} thread(s), load={start_machine['loadavg']}",
        flush=True,
    )
    samples: dict[str, list[tuple[float, int, int]]] = {}
    overhead: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, local_model(config) as status:
        store = Store(Path(tmp))
        llm = LLM(config, store=store)
        paths: dict[str, Any] = {
            "lbi (LLM.complete)": lambda m, n: via_lbi(llm, m, n),
            "direct HTTP": lambda m, n: via_http(status.url, m, n),
        }
        if not args.no_in_process:
            model = in_process(threads, config.local_model.n_ctx)
            paths["llama_cpp.Llama in-process"] = lambda m, n: via_llama(model, m, n)
        for fn in paths.values():  # warm-up: load pages, fill caches
            fn([{"role": "user", "content": "Hello"}], 8)
        names = list(paths)
        for rnd in range(args.rounds):
            for k, prompt in enumerate(PROMPTS):
                messages = [{"role": "user", "content": f"{prompt} (round {rnd})"}]
                shift = (rnd + k) % len(names)
                for name in names[shift:] + names[:shift]:  # rotate the order
                    samples.setdefault(name, []).append(paths[name](messages, args.max_tokens))
            print(f"  round {rnd + 1}/{args.rounds} done", flush=True)
        for i in range(args.overhead_calls):
            messages = [{"role": "user", "content": f"Say OK ({i})."}]
            shift = i % len(names)  # rotate: the server reuses the cached prompt of the call before
            for name in names[shift:] + names[:shift]:
                overhead.setdefault(name, []).append(paths[name](messages, 1)[0])
        store.close()

    rows: list[dict[str, Any]] = []
    for name, values in samples.items():
        seconds = sum(v[0] for v in values)
        tokens = sum(v[1] for v in values)
        rows.append(
            {
                "path": name,
                "calls": len(values),
                "completion_tokens": tokens,
                "prompt_tokens": sum(v[2] for v in values),
                "seconds": seconds,
                "mean_latency_s": seconds / len(values),
                "tokens_per_s": tokens / seconds if seconds else 0.0,
                "one_token_call_ms": 1000 * sum(overhead[name]) / len(overhead[name]),
            }
        )
    direct = next(r for r in rows if r["path"] == "direct HTTP")
    for row in rows:
        row["vs_direct"] = row["tokens_per_s"] / direct["tokens_per_s"] if direct["tokens_per_s"] else float("nan")
        row["overhead_ms"] = row["one_token_call_ms"] - direct["one_token_call_ms"]
    print()
    print(
        table(
            rows,
            [
                "path",
                "calls",
                "completion_tokens",
                "seconds",
                "mean_latency_s",
                "tokens_per_s",
                "vs_direct",
                "one_token_call_ms",
                "overhead_ms",
            ],
            title=f"SmolLM2-135M Q4_1, llama.cpp, {threads} thread(s)",
        )
    )
    lbi_row = rows[0]
    goal = lbi_row["vs_direct"] >= 0.9
    print(f"goal lbi >= 90% of direct: {'met' if goal else 'NOT met'} ({lbi_row['vs_direct']:.1%})")
    path = write_result(
        "local_model",
        {"args": vars(args), "machine_at_start": start_machine, "threads": threads, "rows": rows, "goal_met": goal},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
