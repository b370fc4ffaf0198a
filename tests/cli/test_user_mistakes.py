"""Mistakes a new user makes, through the real `lbi` entry point (`lbi.cli.main`, in process).

Each row of the table breaks one thing (a flag, a file, the config, the model, the store) and runs one
command. Every mistake must end the same way: exactly one `error:` line on stderr naming the problem, no
traceback, exit code 2, and the project's store exactly as it was before (every table, row for row). The
only write a mistake may leave is the usage log's record of a failed model call (`llm_calls` with ok = 0),
which the Usage page shows on purpose. Models are the deterministic `fake` one or ones that cannot answer.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lbi.cli import main
from lbi.config import CONFIG_NAME, Config, load_config, save_config
from lbi.docs.ingest import add_source
from lbi.project import init_project
from tests.conftest import ROOT

Setup = Callable[[Path, Path], None]  # (project dir, scratch dir) -> None: break something first


@dataclass(frozen=True)
class Mistake:
    id: str
    args: tuple[str, ...]  # after `lbi`; {p} is the project, {tmp} a scratch folder
    says: str  # a piece of the one error line
    setup: Setup | None = None
    model_call: bool = False  # a failed model call is logged to llm_calls (the usage log)
    marks: tuple[Any, ...] = ()
    unset: tuple[str, ...] = ()  # environment variables the user has not set


# -- ways to break a project ---------------------------------------------------------------
def _toml(old: str, new: str) -> Setup:
    def setup(project: Path, tmp: Path) -> None:
        path = project / CONFIG_NAME
        text = path.read_text()
        assert old in text, f"{old!r} not in lbi.toml"
        path.write_text(text.replace(old, new))

    return setup


def _config(change: Callable[[Config], None]) -> Setup:
    def setup(project: Path, tmp: Path) -> None:
        config = load_config(project)
        change(config)
        save_config(project, config)

    return setup


def _file(name: str, text: str) -> Setup:
    def setup(project: Path, tmp: Path) -> None:
        (tmp / name).write_text(text)

    return setup


def _garbage_store(project: Path, tmp: Path) -> None:
    for extra in ("lbi.db-wal", "lbi.db-shm"):
        (project / extra).unlink(missing_ok=True)
    (project / "lbi.db").write_bytes(b"this is not a database, it was overwritten by mistake\n" * 40)


def _store_folder(project: Path, tmp: Path) -> None:
    for name in ("lbi.db", "lbi.db-wal", "lbi.db-shm"):
        (project / name).unlink(missing_ok=True)
    (project / "lbi.db").mkdir()


def _newer_store(project: Path, tmp: Path) -> None:
    with closing(sqlite3.connect(project / "lbi.db")) as conn:
        conn.execute("PRAGMA user_version = 999")


def _closed_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _unreachable(config: Config) -> None:
    config.models.default = "openai/some-model"
    config.models.api_base = f"http://127.0.0.1:{_closed_port()}/v1"
    config.llm.max_retries = 0
    config.llm.timeout_s = 10


def _missing_local_model(config: Config) -> None:
    config.models.default = "local/smollm2"
    config.local_model.model_path = "/nonexistent/model.gguf"
    config.local_model.port = _closed_port()


def _unpublished_model(project: Path, tmp: Path) -> None:
    """A trained model's Hugging Face folder without the GGUF `lbi llm publish` makes of it (and no config.json)."""
    (project / "models" / "half" / "hf").mkdir(parents=True)


def _set(section: str, field: str, value: Any) -> Callable[[Config], None]:
    return lambda config: setattr(getattr(config, section), field, value)


def _options_typo(project: Path, tmp: Path) -> None:
    """`db` spelt `dbb`, in a project with no docs yet (so `retrieve` reaches the env without embedding any)."""
    _config(_set("env", "options", {"dbb": "shop.db"}))(project, tmp)
    with closing(sqlite3.connect(project / "lbi.db")) as conn, conn:
        conn.execute("DELETE FROM chunks")
        conn.execute("DELETE FROM documents")


TASK = '{"id": "t-%s", "env": "sql", "instruction": "How many items?", "check": %s}\n'
ANSWER = '{"kind": "answer", "params": {"expected": "2"}}'

MISTAKES = [
    # the project and its config
    Mistake("missing project", ("status", "-p", "{tmp}/nowhere"), "is not an lbi project"),
    Mistake(
        "init into a file", ("init", "{tmp}/notes.txt"), "is a file, not a folder", _file("notes.txt", "my notes\n")
    ),
    Mistake(
        "lbi.toml not TOML",
        ("status", "-p", "{p}"),
        "is not valid TOML",
        _toml('backward_mode = "batched"', "backward_mode = batched"),
    ),
    Mistake(
        "lbi.toml unknown setting",
        ("status", "-p", "{p}"),
        "synth.tasks_per_chnk: Extra inputs",
        _toml("tasks_per_chunk = 3", "tasks_per_chnk = 3"),
    ),
    Mistake(
        "lbi.toml bad value",
        ("status", "-p", "{p}"),
        "synth.backward_mode",
        _toml('backward_mode = "batched"', 'backward_mode = "sideways"'),
    ),
    Mistake(
        "unknown env in lbi.toml",
        ("rollout", "-p", "{p}", "--policy", "explore", "--episodes", "1"),
        "unknown environment ([env] name in lbi.toml) 'sqlite'",
        _config(_set("env", "name", "sqlite")),
    ),
    Mistake(
        "typo in [env] options",
        ("retrieve", "-p", "{p}", "count the items", "--modes", "baseline"),
        "dbb",
        _options_typo,
    ),
    Mistake(
        "typo in [env] options, rollout",
        ("rollout", "-p", "{p}", "--policy", "explore", "--episodes", "1"),
        "unknown option 'dbb'",
        _options_typo,
    ),
    # the store
    Mistake("store is not a database", ("status", "-p", "{p}"), "cannot open the store", _garbage_store),
    Mistake("store is a folder", ("status", "-p", "{p}"), "cannot open the store", _store_folder),
    Mistake("store from a newer lbi", ("status", "-p", "{p}"), "newer than this lbi", _newer_store),
    # models
    Mistake(
        "unknown model string",
        ("llm", "ask", "hi", "-p", "{p}"),
        "unknown model string 'nonsense-provider/x'",
        _config(_set("models", "default", "nonsense-provider/x")),
        model_call=True,
    ),
    Mistake(
        "unreachable model server",
        ("llm", "ask", "hi", "-p", "{p}"),
        "openai/some-model",
        _config(_unreachable),
        model_call=True,
    ),
    Mistake(
        "local model file missing",
        ("llm", "ask", "hi", "-p", "{p}"),
        "model file /nonexistent/model.gguf",
        _config(_missing_local_model),
        model_call=True,
    ),
    Mistake(
        "provider model without its key",
        ("llm", "ask", "hi", "-p", "{p}", "--model", "openai/gpt-4o-mini"),
        "openai/gpt-4o-mini: no API key: set OPENAI_API_KEY in the environment",
        model_call=True,
        unset=("OPENAI_API_KEY",),
    ),
    Mistake("unknown role", ("llm", "ask", "hi", "-p", "{p}", "--role", "critic"), "unknown role 'critic'"),
    Mistake(
        "no such trained model", ("llm", "ask", "hi", "-p", "{p}", "--model", "local/nope"), "no trained model nope in"
    ),
    Mistake(
        "trained model not published",
        ("llm", "ask", "hi", "-p", "{p}", "--model", "local/half"),
        "run `lbi llm publish half",
        _unpublished_model,
    ),
    Mistake("publish an untrained model", ("llm", "publish", "nope", "-p", "{p}"), "run `lbi train --name nope`"),
    Mistake(
        "publish a folder without a model",
        ("llm", "publish", "half", "-p", "{p}"),
        "no config.json",
        _unpublished_model,
    ),
    Mistake("trained model name", ("llm", "publish", "../x", "-p", "{p}"), "'../x' cannot name a trained model"),
    Mistake(
        "base not published",
        ("llm", "ask", "hi", "-p", "{p}", "--model", "local/base-q8_0"),
        "run `lbi llm publish-base --quant Q8_0",
    ),
    Mistake(
        "publish the base as a trained model",
        ("llm", "publish", "base-q8_0", "-p", "{p}"),
        "publish it with `lbi llm publish-base --quant Q8_0`",
    ),
    Mistake(
        "publish-base quantization",
        ("llm", "publish-base", "-p", "{p}", "--quant", "Q9_9"),
        "unknown quantization 'Q9_9'",
    ),
    Mistake("train quantization", ("train", "-p", "{p}", "--quant", "Q9_9"), "unknown quantization 'Q9_9'"),
    Mistake(
        "train under the base's name",
        ("train", "-p", "{p}", "--name", "base-q8_0"),
        "'base-q8_0' is the name the base model is served under",
    ),
    # flags click refuses
    Mistake("unknown flag", ("eval", "-p", "{p}", "--bogus"), "No such option: --bogus"),
    Mistake("not a number", ("rollout", "-p", "{p}", "--episodes", "many"), "Invalid value for '--episodes'"),
    Mistake("missing argument", ("tasks", "import", "-p", "{p}"), "give a task file or folder, or --browsergym"),
    Mistake(
        "browsergym without seeds",
        ("tasks", "import", "-p", "{p}", "--browsergym", "miniwob.*"),
        "--browsergym takes --seeds",
    ),
    Mistake(
        "no such browsergym tasks",
        ("tasks", "import", "-p", "{p}", "--browsergym", "miniwob.nope-*", "--seeds", "1-2"),
        "no registered BrowserGym task matches 'miniwob.nope-*'",
    ),
    Mistake(
        "bad seeds",
        ("tasks", "import", "-p", "{p}", "--browsergym", "miniwob.click-test", "--seeds", "9-x"),
        "seeds '9-x': write a range like 1000-1099",
    ),
    Mistake("unknown command", ("evaluate", "-p", "{p}"), "No such command 'evaluate'"),
    # flag values lbi refuses
    Mistake("eval without held-out tasks", ("eval", "-p", "{p}"), "no held-out tasks for env 'sql'"),
    Mistake("eval of an unknown task", ("eval", "-p", "{p}", "--tasks", "t-nope"), "t-nope is a held-out task"),
    Mistake("eval mode", ("eval", "-p", "{p}", "--modes", "baseline,rag"), "unknown evaluation mode 'rag'"),
    Mistake(
        "no Ray cluster there", ("eval", "-p", "{p}", "--ray", "127.0.0.9:1"), "no Ray cluster answers at 127.0.0.9:1"
    ),
    Mistake("backward mode", ("backward", "-p", "{p}", "--mode", "foo"), "unknown backward mode 'foo'"),
    Mistake("synthesize mode", ("synthesize", "-p", "{p}", "--mode", "foo"), "unknown backward mode 'foo'"),
    Mistake("filter policy", ("filter", "-p", "{p}", "--policy", "foo"), "unknown judge policy 'foo'"),
    Mistake("rollout policy", ("rollout", "-p", "{p}", "--policy", "wander"), "unknown rollout policy 'wander'"),
    Mistake(
        "retrieval mode", ("retrieve", "-p", "{p}", "hi", "--modes", "agentic,foo"), "unknown retrieval mode 'foo'"
    ),
    Mistake("retrieve from an unknown task", ("retrieve", "-p", "{p}", "hi", "--task", "t-nope"), "no task 't-nope'"),
    Mistake("tasks split", ("tasks", "list", "-p", "{p}", "--split", "test"), "unknown split 'test'"),
    Mistake("export format", ("export", "-p", "{p}", "--format", "csv"), "unknown export format 'csv'"),
    Mistake("export unit", ("export", "-p", "{p}", "--per", "line"), "unknown record unit (--per) 'line'"),
    Mistake("export policy", ("export", "-p", "{p}", "--policy", "foo"), "unknown judge policy 'foo'"),
    Mistake(
        "train judge",
        ("train", "-p", "{p}", "--judge", "groundng"),
        "unknown judge 'groundng': the committee is accomplishment",
    ),
    Mistake("export into a folder", ("export", "-p", "{p}", "--out", "{tmp}"), "it is a folder"),
    Mistake(
        "export through a file",
        ("export", "-p", "{p}", "--out", "{tmp}/notes.txt/out.jsonl"),
        "notes.txt is a file, not a folder",
        _file("notes.txt", "my notes\n"),
    ),
    # documentation and task files
    Mistake("doc path that does not exist", ("docs", "add", "-p", "{p}", "{tmp}/manual"), "no such file or folder"),
    Mistake("doc URL off loopback", ("docs", "add", "-p", "{p}", "http://example.com/"), "is not loopback"),
    Mistake("task file that does not exist", ("tasks", "import", "-p", "{p}", "{tmp}/tasks.jsonl"), "no such file"),
    Mistake(
        "task file not JSON",
        ("tasks", "import", "-p", "{p}", "{tmp}/tasks.jsonl"),
        "tasks.jsonl:7: not valid JSON: Expecting property name enclosed in double quotes at column 2",
        _file("tasks.jsonl", "".join(TASK % (i, ANSWER) for i in range(6)) + "{'id': 't-7'}\n"),
    ),
    Mistake(
        "tasks for another environment",
        ("tasks", "import", "-p", "{p}", "{tmp}/tasks.jsonl"),
        "tasks.jsonl holds 1 task(s) for env 'trac', but this project's environment is 'sql'",
        _file("tasks.jsonl", TASK % ("a", ANSWER) + TASK.replace('"sql"', '"trac"') % ("b", ANSWER)),
    ),
    Mistake(
        "BrowserGym tasks for another environment",
        ("tasks", "import", "-p", "{p}", "--browsergym", "miniwob.click-test", "--seeds", "1-2"),
        "--browsergym miniwob.click-test holds 2 task(s) for env 'browsergym', but this project's environment is 'sql'",
    ),
    Mistake(
        "task without a check",
        ("tasks", "import", "-p", "{p}", "{tmp}/tasks.jsonl"),
        "invalid task",
        _file("tasks.jsonl", '{"id": "t-a", "env": "sql", "instruction": "How many items?"}\n'),
    ),
    Mistake(
        "task ids twice",
        ("tasks", "import", "-p", "{p}", "{tmp}/tasks.jsonl"),
        "duplicate task id 't-a'",
        _file("tasks.jsonl", TASK % ("a", ANSWER) * 2),
    ),
    Mistake(
        "task file of another type",
        ("tasks", "import", "-p", "{p}", "{tmp}/tasks.csv"),
        "unsupported task file type",
        _file("tasks.csv", "id,instruction\n"),
    ),
    Mistake(
        "task with an unknown check kind",
        ("tasks", "import", "-p", "{p}", "{tmp}/tasks.jsonl"),
        "tasks.jsonl",
        _file("tasks.jsonl", TASK % ("a", '{"kind": "anser", "params": {"expected": "2"}}')),
    ),
    # environments
    Mistake("unknown environment", ("env", "try", "sqlite", "-a", "stop()"), "unknown environment 'sqlite'"),
    Mistake("missing database", ("env", "try", "sql", "--db", "{tmp}/shop.db", "-a", "stop()"), "does not exist"),
    Mistake(
        "a folder for the database",
        ("init", "{tmp}/new", "--env", "sql", "-o", "db={tmp}"),
        "option 'db': {tmp} is a folder: give the SQLite database file in it",
    ),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real project: the fake model, the SQL env on a two-row database, one doc, one synthetic task."""
    root = tmp_path_factory.mktemp("template")
    db = root / "shop.db"
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO items (name) VALUES (?)", [("pen",), ("ink",)])
    config = Config(project="mistakes")
    config.models.default = "fake"
    config.env.name = "sql"
    config.env.options = {"db": str(db)}
    project = init_project(root / "proj", config)
    add_source(project, ROOT / "tests" / "fixtures" / "docs" / "guide.md")
    project.store.add_tasks(
        [{"id": "t-synth", "instruction": "Count the items.", "env": "sql", "split": "synthetic", "spec_json": {}}]
    )
    project.store.close()
    return root / "proj"


def snapshot(db: Path) -> dict[str, list[Any]] | bytes | list[str] | None:
    """Every table of the store, row for row (the file's bytes when it is not a database; a folder's listing)."""
    if not db.exists():
        return None
    if db.is_dir():
        return sorted(p.name for p in db.iterdir())
    try:
        with closing(sqlite3.connect(db)) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
            dump: dict[str, list[Any]] = {
                t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
            }
            dump["sqlite_master"] = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
            dump["user_version"] = conn.execute("PRAGMA user_version").fetchall()
            return dump
    except sqlite3.DatabaseError:
        return db.read_bytes()


@pytest.mark.parametrize("mistake", [pytest.param(m, id=m.id, marks=m.marks) for m in MISTAKES])
def test_a_mistake_is_one_error_line_exit_2_and_the_store_is_untouched(
    mistake: Mistake,
    template: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "proj"
    shutil.copytree(template, project)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    monkeypatch.delenv("LBI_PROJECT", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    for var in mistake.unset:
        monkeypatch.delenv(var, raising=False)
    if mistake.setup:
        mistake.setup(project, scratch)
    before = snapshot(project / "lbi.db")
    capsys.readouterr()

    with pytest.raises(SystemExit) as exited:
        main([a.format(p=project, tmp=scratch) for a in mistake.args])

    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), f"stderr: {err!r}"
    assert mistake.says.format(p=project, tmp=scratch) in lines[0]
    assert "Traceback" not in out + err
    assert "━" not in out, "a progress bar was drawn for work that never started"
    assert exited.value.code == 2
    after = snapshot(project / "lbi.db")
    if mistake.model_call:
        assert isinstance(before, dict) and isinstance(after, dict)
        logged = set(after.pop("llm_calls")) - set(before.pop("llm_calls"))
        assert logged, "a failed model call is logged"
        with closing(sqlite3.connect(project / "lbi.db")) as conn:
            assert [r[0] for r in conn.execute("SELECT DISTINCT ok FROM llm_calls")] == [0]
        for table in ("sqlite_sequence",):
            before.pop(table, None)
            after.pop(table, None)
    assert after == before, "the store changed"


def test_the_table_is_big_enough() -> None:
    assert len(MISTAKES) >= 20
    assert len({m.id for m in MISTAKES}) == len(MISTAKES)


def test_the_real_entry_point_prints_the_same_line(tmp_path: Path) -> None:
    """`python -m lbi.cli` (what the console script runs, and background jobs call) goes through the same boundary."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "lbi.cli", "backward", "-p", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    assert "is not an lbi project" in out.stderr
    help_ = subprocess.run([sys.executable, "-m", "lbi.cli"], capture_output=True, text=True, timeout=120)
    assert "Usage" in help_.stdout + help_.stderr and "error:" not in help_.stderr
