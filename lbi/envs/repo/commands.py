"""The repo environment's commands as text: the wrapper that runs them, their kind, the report they leave, the
diff block of an observation (and a replay's reading of it), and the commands the explore policy tries.

Kept apart from `lbi.envs.repo` (the environment) because the workbench reads recorded observations with it
without building an environment.
"""

from __future__ import annotations

import re
import shlex
from pathlib import PurePosixPath
from typing import Any

from lbi.envs.repo.snapshot import IGNORED, Snapshot

WRAPPER = r"""__lbi_fd=$LBI_REPORT_FD; __lbi_cmd=$LBI_COMMAND; __lbi_since=$LBI_SINCE
unset LBI_REPORT_FD LBI_COMMAND LBI_SINCE
__lbi_report() {
  { printf 'cwd\0%s\0' "$PWD"
    find /testbed -name .git -prune -o -name __pycache__ -prune -o -newer /tmp/.lbi-start -type f \
      -printf 'touched\0%P\0' 2>/dev/null
    printf 'status\0'; git -C /testbed status --porcelain -z --untracked-files=all 2>/dev/null
  } >&"$__lbi_fd"
}
cd -- "$LBI_CWD" 2>/dev/null || cd /testbed
touch -d "$__lbi_since" /tmp/.lbi-start
trap __lbi_report EXIT
eval "$__lbi_cmd"
"""
"""Runs the agent's command in this shell (so ``cd`` sticks) and, on exit, reports the directory, the files
the command wrote and ``git status`` on a side channel that no output truncation touches. The files written are
those newer than a marker dated ``$LBI_SINCE``, a few ms before the command: file times come from a coarse clock,
so a marker made at the start would hide a file written in the same tick."""
DIFF_MARK = "[diff so far"
DIFF_CHARS = 1500
SKIP_PARTS = frozenset(p.strip("/") for p in IGNORED if not p.startswith("*")) | {".git"}
SEGMENT = re.compile(r"&&|\|\||[;|\n]")
SKIP_WORDS = frozenset({"cd", "export", "set", "source", ".", "true", "time", "env", "sudo", "(", "{"})


def command_kind(command: str) -> str:
    """The program a command runs, for the state signature: the first segment that does more than ``cd``
    or set variables; ``python -m X`` is ``X``, ``git X`` is ``git X``."""
    for segment in SEGMENT.split(command):
        words = segment.split()
        while words and (re.match(r"^\w+=", words[0]) or words[0] in ("time", "env", "sudo", "(", "{")):
            words.pop(0)
        if not words or words[0] in SKIP_WORDS:
            continue
        program = PurePosixPath(words[0]).name
        if program.startswith("python") and len(words) > 2 and words[1] == "-m":
            return words[2]
        if program == "git":
            sub = next((w for w in words[1:] if not w.startswith("-")), "")
            return f"git {sub}".strip()
        return program
    return "cd" if re.search(r"\bcd\b", command) else "?"


def parse_report(text: str) -> tuple[str | None, list[str], list[str] | None]:
    """(current directory, files written, ``git status`` entries) from the wrapper's report; the status is None
    when the report ended before it (a command killed at its time limit reports nothing)."""
    tokens = text.split("\0")
    cwd: str | None = None
    touched: list[str] = []
    i = 0
    while i + 1 < len(tokens):
        key, value = tokens[i], tokens[i + 1]
        if key == "status":
            return cwd, touched, [t for t in tokens[i + 1 :] if re.match(r"^[ MADRCU?!]{2} ", t)]
        if key == "cwd":
            cwd = value
        elif (
            key == "touched"
            and not (SKIP_PARTS & set(PurePosixPath(value).parts))
            and not value.endswith((".pyc", ".pyo"))
        ):
            touched.append(value)
        i += 2
    return cwd, touched, None


def diff_so_far(observation: str) -> str | None:
    """The diff block of a command's observation (the working tree's diff after a command that changed files), or
    None when the command changed nothing."""
    start = observation.rfind(f"\n{DIFF_MARK}")
    if start < 0:
        return None
    block = observation[start + 1 :]
    return block[: block.rfind("\n[cwd: ")] if "\n[cwd: " in block else block


def replay_step(steps: list[dict[str, Any]], idx: int, final_observation: str | None) -> tuple[str, str]:
    """For step ``idx`` of a recorded repo trajectory: the command's output (the observation after it) and the diff
    so far (the last diff block up to that output; empty before any change)."""
    outputs = [s.get("observation") or "" for s in steps[1:]] + [final_observation or ""]
    for output in reversed(outputs[: idx + 1]):
        block = diff_so_far(output)
        if block is not None:
            return outputs[idx], block
    return outputs[idx], ""


def explore_commands(snapshot: Snapshot, test_command: str, per_kind: int = 12) -> list[str]:
    """What a developer new to the repository runs: list and read files, find definitions, run tests
    (paths from /testbed, which the explore policy never leaves)."""
    meta = snapshot.meta
    q = shlex.quote
    cmds = ["ls -F", "git status", "git log --oneline -5", "find . -name '*.py' -not -path './.git/*' | head -50"]
    cmds += [f"head -60 {q(f)}" for f in meta.files if "/" not in f and f.upper().startswith("README")]
    cmds += sorted({f"ls -F {q(f.split('/')[0])}" for f in meta.files if "/" in f})
    tests = {t.split("::")[0] for t in meta.tests}
    code = [f for f in meta.files if f.endswith(".py") and f not in tests]
    for f in _spread(code, per_kind):
        cmds += [f"grep -nE '^ *(def|class) ' {q(f)}", f"sed -n '1,60p' {q(f)}"]
    symbols = [s for s in meta.symbols if s.path not in tests and not s.name.rsplit(".", 1)[-1].startswith("_")]
    for s in _spread(symbols, per_kind * 2):
        leaf = s.name.rsplit(".", 1)[-1]
        cmds += [f"grep -rn 'def {leaf}' --include='*.py' .", f"sed -n '{s.line},{s.line + 30}p' {q(s.path)}"]
    for f in _spread(sorted(tests), per_kind):
        cmds += [f"{test_command} {q(f)}", f"grep -n 'def test' {q(f)} | head -30"]
    cmds += [f"{test_command} {q(t)}" for t in _spread(meta.tests, per_kind)]
    return list(dict.fromkeys(cmds))


def _spread(items: list[Any], n: int) -> list[Any]:
    """At most ``n`` items taken evenly across the list (the same ones every time)."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(k * step)] for k in range(n)]
