"""How far the committee's judges can be trusted: precision, recall and accuracy on the judge benchmark.

    .venv/bin/python bench/judge_quality.py                                  # the rule judges, every pair
    .venv/bin/python bench/judge_quality.py --replay 0                      # + the replay judge on every pair
    .venv/bin/python bench/judge_quality.py --sample 20     # + the model judges (the embedded model), policies
    .venv/bin/python bench/judge_quality.py --replay 0 --sample 12 --quality   # + rewrite the figures lbi ships

Reads the labelled set `bench/judge_set.py` builds (`data/judge_bench/<env>.jsonl`: matched pairs are positives;
another task's span, the span cut before its effect, one step on another element or value, the instruction with
one entity changed are negatives unless the task's check passes). A "yes" is a kept example, so for each judge ×
environment: precision (of the kept, how many are good), recall (of the good, how many are kept) and accuracy,
each with a Wilson 95% interval, and n.

Judges: ``overlap`` (the old one-word rule), ``grounding`` (the effect-reading rule on what the committee has by
default: the recorded steps, `lbi.synth.grounding`), ``grounding+replay`` (the same rule on the effects a replay
reads: rows, saved cells, the diff), ``replay`` (the span re-run from its start state in a fresh environment
comes out the same; `--replay N` on N pairs per env, 0 = all; its seconds per example are reported), and with
`--model` the three model judges on a sample. Policies: ``rules`` (the judges that need no model together:
grounding+replay and replay), and with a model ``strict``/``majority``/``relaxed`` over the model judges and
grounding.

The rule's settings were tuned on the ``tune`` half of the tasks (a task's pairs all fall in one half, by a hash
of its id) and are reported on the ``test`` half and on all pairs; `--tune` prints the settings' grid on the tune
half.

`--quality` also writes the figures as `data/judge_bench/quality.json` (`lbi.synth.trust.QualityFile`: judge ×
environment (and pooled) × split, with the command, commit and date), which lbi ships and the Committee page and
`lbi filter` show beside each judge's verdicts.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, bench_config, local_model, table, write_result  # noqa: E402
from judge_metrics import Quality, figure, quality  # noqa: E402
from judge_set import ENVS, OUT, load_pairs, open_env, open_project_env, trim  # noqa: E402
from judge_set_miniwob import ENV as MINIWOB  # noqa: E402
from judge_trusted import COMMITTEES, EnvVerdicts, trusted  # noqa: E402
from learning_miniwob import DESCRIPTION as MINIWOB_DESCRIPTION  # noqa: E402

from lbi.config import LOCAL_MODEL  # noqa: E402
from lbi.envs.replay import ReplayError, replay, reproduces  # noqa: E402
from lbi.envs.tasks import CheckSpec, Task  # noqa: E402
from lbi.synth import grounding, trust  # noqa: E402

SETS = (*ENVS, MINIWOB)
"""The environments of the labelled set; MiniWoB++'s pairs come from a project's episodes (`judge_set_miniwob.py`)
and cannot be replayed here (BrowserGym is not started): the replay judge reports them and leaves them out."""
MODEL_JUDGES = trust.MODEL_FOCI


def summary(
    measured: Sequence[tuple[str, str, str, Quality, int]],
    args: argparse.Namespace,
    source: dict[str, Any],
    seconds: float,
) -> trust.QualityFile:
    """Every (judge, env, split)'s figures and each judge's pooled over the environments it was measured in."""
    figures = [figure(j, e, s, q, out, [e]) for j, e, s, q, out in measured]
    for judge in dict.fromkeys(j for j, *_ in measured):
        for split in ("all", "test"):
            mine = [(e, q, out) for j, e, s, q, out in measured if (j, s) == (judge, split)]
            if mine:
                q = Quality(*(sum(getattr(m[1], k) for m in mine) for k in ("tp", "fp", "fn", "tn")))
                figures.append(figure(judge, trust.POOLED, split, q, sum(m[2] for m in mine), [m[0] for m in mine]))
    return trust.QualityFile(
        **source,
        set=str(args.set.resolve().relative_to(ROOT)) if args.set.resolve().is_relative_to(ROOT) else str(args.set),
        model=args.model if args.sample else None,
        seconds=round(seconds, 1),
        envs=list(dict.fromkeys(e for _, e, *_ in measured)),
        figures=figures,
    )


KEPT_JUDGES = (*MODEL_JUDGES, "strict", "majority", "relaxed", *COMMITTEES)


def keep_models(new: trust.QualityFile, old: trust.QualityFile | None) -> trust.QualityFile:
    """`new` with the model judges' and the policies' figures of `old` (not measured again: they take half an hour
    of CPU), and a note of where they came from."""
    if old is None:
        return new
    kept = [f for f in old.figures if f.judge in KEPT_JUDGES]
    if not kept:
        return new
    note = old.kept or (
        f"the figures of {', '.join(KEPT_JUDGES)} are kept from `{old.command}` at {old.commit} ({old.at}), not "
        "measured again; the policies there voted with that commit's grounding rule"
    )
    return new.model_copy(update={"figures": [*new.figures, *kept], "model": old.model, "kept": note})


def provenance() -> dict[str, Any]:
    """The command, the commit (and whether `lbi/` or `bench/` differ from it) and the time, taken at the start."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
        return done.stdout.strip()

    return {
        "command": " ".join([".venv/bin/python", "bench/judge_quality.py", *sys.argv[1:]]),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "lbi", "bench")),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def half(task_id: str) -> str:
    """The half of the set a task's pairs fall in: ``tune`` or ``test`` (a hash of the task id)."""
    return "tune" if int(hashlib.sha1(task_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


# -- the judges -------------------------------------------------------------------------------------------------
def recorded(steps: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps as the store records them (no replayed effect)."""
    return [{k: v for k, v in s.items() if k != "effect"} for s in steps]


def rule_verdicts(
    pairs: Sequence[dict[str, Any]], rules: grounding.Rules = grounding.DEFAULT_RULES
) -> dict[str, list[bool]]:
    out: dict[str, list[bool]] = {"overlap": [], "grounding": [], "grounding+replay": []}
    for p in pairs:
        steps = recorded(p["steps"])
        out["overlap"].append(grounding.overlap_judge(p["instruction"], steps).verdict)
        out["grounding"].append(grounding.judge(p["instruction"], steps, after=p["after"], rules=rules).verdict)
        out["grounding+replay"].append(
            grounding.judge(p["instruction"], p["steps"], after=p["after"], rules=rules).verdict
        )
    return out


def replay_verdicts(
    env_name: str,
    pairs: Sequence[dict[str, Any]],
    chrome: frozenset[str],
    log: Callable[[str], None] = print,
    project: Path | None = None,
) -> tuple[list[bool | None], list[float], list[str]]:
    """The replay judge on each pair: its span re-run from its task's start state in a fresh environment must come
    out the same (errors step by step, end state). None for a pair that cannot be replayed (reported). With
    `project`, the spans are re-run in that project's environment (a set `judge_set.py --project` built)."""
    verdicts: list[bool | None] = []
    seconds: list[float] = []
    reasons: list[str] = []
    if env_name not in ENVS:
        log(f"  replay {env_name}: cannot replay its {len(pairs)} pairs (episodes of a project's store), left out")
        return [None] * len(pairs), [], ["cannot replay: a project's episode, BrowserGym is not started"] * len(pairs)
    with open_project_env(project) if project else open_env(env_name) as (env, _):
        for n, p in enumerate(pairs, 1):
            task = Task(id=p["span_task"], env=env_name, instruction="", start=p["start"], check=CheckSpec(kind="none"))
            started = time.perf_counter()
            try:
                rep = replay(env, task, p["actions"])
            except ReplayError as err:
                verdicts.append(None)
                reasons.append(f"cannot replay: {err}")
                seconds.append(time.perf_counter() - started)
                continue
            for step in rep.steps:
                step.observation = trim(step.observation, chrome, _bids(step.action))
            rep.final = trim(rep.final, chrome, set())
            got = reproduces(p["steps"], rep, 0, len(p["steps"]) - 1, p["after"])
            seconds.append(time.perf_counter() - started)
            verdicts.append(got.same)
            reasons.append(got.reason)
            if n % 10 == 0:
                log(f"  replay {env_name}: {n}/{len(pairs)}")
    return verdicts, seconds, reasons


def earlier_replay(
    path: Path, env_name: str, pairs: Sequence[dict[str, Any]]
) -> tuple[list[bool | None], list[float], list[str]]:
    """The replay judge's verdicts on `pairs` as an earlier `--replay 0` run recorded them (its result file's
    `replay.<env>.verdicts`), with its seconds per example; None for a pair it did not replay. The replay judge does
    not read the grounding rule, so its verdicts stand while the rule changes; the set must be the same."""
    import json

    earlier = json.loads(path.read_text(encoding="utf-8")).get("replay", {}).get(env_name, {})
    verdicts, reasons = earlier.get("verdicts", {}), earlier.get("reasons", {})
    per = float(earlier.get("seconds_per_example", 0.0))
    got = [verdicts.get(p["id"]) for p in pairs]
    why = [reasons.get(p["id"], "" if p["id"] in verdicts else "not replayed by the earlier run") for p in pairs]
    return got, [per] * sum(v is not None for v in got), why


def _bids(action: str) -> set[str]:
    from lbi.observations import BID_ACTION

    match = BID_ACTION.match(action or "")
    return {match.group(2)} if match else set()


def model_verdicts(env_name: str, pairs: Sequence[dict[str, Any]], llm: Any) -> dict[str, list[bool | None]]:
    """The three model judges (the committee's prompts, the env's description) on each pair; None where a reply
    did not parse (the committee records those as failures; a policy counts a missing verdict as no)."""
    from lbi.envs.registry import env_spec
    from lbi.errors import ContextWindowError, OutputParseError
    from lbi.prompts.messages import judge_messages
    from lbi.prompts.replies import Verdict

    # the committee shows its judges the project's description: the MiniWoB++ set's project is bench/learning_miniwob's
    description = MINIWOB_DESCRIPTION if env_name == MINIWOB else env_spec(env_name).description
    out: dict[str, list[bool | None]] = {j: [] for j in MODEL_JUDGES}
    for n, p in enumerate(pairs, 1):
        for focus in MODEL_JUDGES:
            messages = judge_messages(p["instruction"], recorded(p["steps"]), 0, focus, description)
            try:
                reply = llm.complete(messages, role="judge", purpose=f"judge-{focus}", schema=Verdict)
                out[focus].append(bool(reply.parsed.verdict))
            except (OutputParseError, ContextWindowError):
                out[focus].append(None)
        print(f"  models {env_name}: {n}/{len(pairs)}", flush=True)
    return out


def policy(votes: Sequence[Sequence[bool | None]], rule: str) -> list[bool]:
    """The committee's policy over judges' votes per pair (a missing verdict counts as no, as the store's rule)."""
    out = []
    for pair_votes in zip(*votes, strict=True):
        yes = sum(bool(v) for v in pair_votes)
        out.append({"strict": yes == len(pair_votes), "majority": yes * 2 > len(pair_votes), "relaxed": yes > 0}[rule])
    return out


# -- tuning -----------------------------------------------------------------------------------------------------
GRID = [grounding.Rules(coverage=c, named_misses=m) for m in (0, 1) for c in (0.25, 0.34, 0.4, 0.5, 0.6, 0.75, 1.0)]


def tune(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each setting's figures on the tune half (replayed effects), worst environment first."""
    rows = []
    for rules in GRID + [
        replace(grounding.DEFAULT_RULES, answer_on_page=False),
        replace(grounding.DEFAULT_RULES, specifics=False),
    ]:
        per_env = {}
        for env in sorted({p["env"] for p in pairs}):
            sub = [p for p in pairs if p["env"] == env and half(p["task"]) == "tune"]
            q, _ = quality([p["label"] for p in sub], rule_verdicts(sub, rules)["grounding+replay"])
            per_env[env] = q
        changed = {k: v for k, v in vars(rules).items() if getattr(grounding.DEFAULT_RULES, k) != v}
        rows.append(
            {
                "rules": ", ".join(f"{k}={v}" for k, v in changed.items()) or "default",
                **{f"{e} P/R": f"{q.precision:.0%}/{q.recall:.0%}" for e, q in per_env.items()},
            }
        )
    return rows


# -- the run ----------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--set", type=Path, default=OUT, help="the folder of the labelled set")
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="the project a set of `judge_set.py --project` came from: the replay judge re-runs spans in its env",
    )
    parser.add_argument(
        "--replay",
        type=int,
        default=None,
        metavar="N",
        help="run the replay judge on N pairs per env (0 = all); it starts each environment",
    )
    parser.add_argument(
        "--replay-from",
        type=Path,
        default=None,
        metavar="RESULT",
        help="take the replay judge's verdicts from an earlier --replay 0 run's result file instead of replaying",
    )
    parser.add_argument(
        "--keep-models",
        action="store_true",
        help="with --quality and no --sample: keep the model judges' and policies' figures of the file being "
        "rewritten (marked as kept, with where they came from) instead of dropping them",
    )
    parser.add_argument("--sample", type=int, default=0, help="pairs per env for the model judges")
    parser.add_argument(
        "--model", default=LOCAL_MODEL, help=f"model of the model judges (default: the embedded {LOCAL_MODEL})"
    )
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tune", action="store_true", help="print the rule's settings grid on the tune half")
    parser.add_argument("--name", default="judge_quality", help="the result file's name under bench/results/")
    parser.add_argument(
        "--quality",
        type=Path,
        nargs="?",
        const=trust.QUALITY_PATH,
        default=None,
        metavar="PATH",
        help=f"also write the figures lbi ships (default path: {trust.QUALITY_PATH.relative_to(ROOT)})",
    )
    args = parser.parse_args()
    started, source = time.perf_counter(), provenance()
    rows: list[dict[str, Any]] = []
    measured: list[tuple[str, str, str, Quality, int]] = []
    result: dict[str, Any] = {"args": vars(args) | {"set": str(args.set)}, "rows": rows, "replay": {}}
    all_pairs: list[dict[str, Any]] = []
    with ExitStack() as stack:
        llm = None
        if args.sample:
            from lbi.models.llm import LLM

            config = bench_config(args.model, port=args.port)
            stack.enter_context(local_model(config))
            llm = LLM(config)
        every = [e for env in args.env if (e := _measure(env, args, llm, rows, result, all_pairs, measured))]
    scored, result["trusted"] = trusted(every)  # the committees lbi runs, who votes decided out of each env
    measured += scored
    rows += [row(*m) for m in scored]
    print(table([r for r in rows if r["split"] == "all"], title="judge quality, all pairs ('yes' = kept)"))
    print(table([r for r in rows if r["split"] == "test"], title="judge quality, test half (tuned on the other)"))
    if args.tune:
        print(table(tune(all_pairs), title="settings on the tune half (grounding+replay)"))
    print("result:", write_result(args.name, result))
    if args.quality:
        figures = summary(measured, args, source, time.perf_counter() - started)
        if args.keep_models and not args.sample:
            figures = keep_models(figures, trust.load(args.quality))
        args.quality.write_text(trust.dump(figures), encoding="utf-8")
        print("figures:", args.quality)


def _measure(
    env: str,
    args: argparse.Namespace,
    llm: Any,
    rows: list[dict[str, Any]],
    result: dict[str, Any],
    all_pairs: list[dict[str, Any]],
    measured: list[tuple[str, str, str, Quality, int]],
) -> EnvVerdicts | None:
    """One environment's rows: every judge on every pair (the replay judge and the model judges on samples); its
    verdicts (for the committees scored across environments, `judge_trusted`), or None without a set."""
    path = args.set / f"{env}.jsonl"
    if not path.is_file():
        print(f"{env}: no set at {path} (run bench/judge_set.py --env {env})")
        return None
    pairs = load_pairs(path)
    all_pairs += pairs
    rules = rule_verdicts(pairs)
    verdicts: dict[str, list[bool | None]] = {k: list(v) for k, v in rules.items()}
    scope: dict[str, list[int]] = {k: list(range(len(pairs))) for k in verdicts}  # the pairs each judge was asked
    chrome = frozenset(_chrome(path))
    replayed_idx: list[int] = []
    if args.replay is not None or args.replay_from:
        rng = random.Random(args.seed)
        replayed_idx = (
            sorted(rng.sample(range(len(pairs)), min(args.replay, len(pairs))))
            if args.replay
            else list(range(len(pairs)))
        )
        if args.replay_from:
            got, seconds, reasons = earlier_replay(args.replay_from, env, [pairs[k] for k in replayed_idx])
        else:
            got, seconds, reasons = replay_verdicts(env, [pairs[k] for k in replayed_idx], chrome, project=args.project)
        full: list[bool | None] = [None] * len(pairs)
        for k, v in zip(replayed_idx, got, strict=True):
            full[k] = v
        verdicts["replay"] = full
        verdicts["rules"] = [
            None if r is None else bool(g and r) for g, r in zip(rules["grounding+replay"], full, strict=True)
        ]
        scope["replay"] = scope["rules"] = replayed_idx
        result["replay"][env] = {
            "pairs": len(replayed_idx),
            "cannot_replay": sum(v is None for v in got),
            "seconds_per_example": sum(seconds) / max(len(seconds), 1),
            "seconds": sum(seconds),
            "not_reproduced": [
                {"id": pairs[k]["id"], "why": why}
                for k, v, why in zip(replayed_idx, got, reasons, strict=True)
                if v is False
            ][:20],
            "verdicts": {pairs[k]["id"]: v for k, v in zip(replayed_idx, got, strict=True)},
            "reasons": {pairs[k]["id"]: why for k, why in zip(replayed_idx, reasons, strict=True)},
            **({"from": str(args.replay_from)} if args.replay_from else {}),
        }
        print(f"  replay {env}: {sum(seconds) / max(len(seconds), 1):.2f} s per example", flush=True)
    idx: list[int] = []
    if llm is not None and args.sample:
        rng = random.Random(args.seed + 1)
        idx = sorted(rng.sample(range(len(pairs)), min(args.sample, len(pairs))))
        models = model_verdicts(env, [pairs[k] for k in idx], llm)
        result.setdefault("models", {})[env] = {  # each model judge's verdict per pair, to read again later
            name: {pairs[k]["id"]: v for k, v in zip(idx, values, strict=True)} for name, values in models.items()
        }
        for name, values in models.items():
            verdicts[name] = [None] * len(pairs)
            scope[name] = idx
            for k, v in zip(idx, values, strict=True):
                verdicts[name][k] = v
        for rule in ("strict", "majority", "relaxed"):
            votes = [[verdicts[j][k] for k in idx] for j in (*MODEL_JUDGES, "grounding")]
            decided = policy(votes, rule)
            verdicts[rule] = [None] * len(pairs)
            scope[rule] = idx
            for k, v in zip(idx, decided, strict=True):
                verdicts[rule][k] = v
    for name, values in verdicts.items():
        for split in ("test", "all"):
            keep = [k for k in scope[name] if split == "all" or half(pairs[k]["task"]) == split]
            q, left_out = quality([pairs[k]["label"] for k in keep], [values[k] for k in keep])
            if q.n == 0:
                continue
            measured.append((name, env, split, q, left_out))
            rows.append(row(name, env, split, q, left_out))
    return EnvVerdicts(env, pairs, verdicts, idx)


def row(judge: str, env: str, split: str, q: Quality, left_out: int) -> dict[str, Any]:
    """One line of the printed tables."""
    return {
        "judge": judge,
        "env": env,
        "split": split,
        **q.row(),
        "left out": left_out,
        "goal": "yes" if q.meets() else "no",
    }


def _chrome(path: Path) -> list[str]:
    import json

    return json.loads(path.with_suffix(".pages.json").read_text(encoding="utf-8")).get("_chrome", [])


if __name__ == "__main__":
    main()
