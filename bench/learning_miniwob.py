"""Does lbi's data make the embedded agent better on MiniWoB++? The loop through lbi's own pipeline, measured.

In a project kept under `bench/results/learning_effect/miniwob/` (an interrupted run resumes stage by stage: the
rollouts and evaluations by their run names, training from its checkpoint, finished stages from the store):

1. tasks: `--types` MiniWoB++ task ids × synthesis seeds `0..--synth-seeds-1` (split synthetic) and × held-out
   seeds from 1000 (`--heldout-seeds` per type), disjoint by construction and checked by lbi's leakage check;
   BrowserGym's `miniwob_liu18` action set (click and fill on element ids, plus stop), as in Liu et al. 2018;
2. synthesize: one llm rollout per synthetic task (`synth-llm`), `--explore` explore walks per synthetic task
   from its start (`synth-explore`, random words typed into fields); backward construction with no model
   (`hindsight`: what each span of one or two steps did, from the element it acted on; `goal`: the goal of each
   episode the environment rewarded), optionally the model's own (`--backward-llm batched`); the committee:
   the `grounding` rule and the environment's `reward` (plus the model judges with `--model-judges`), strict;
3. train: `lbi train` on every kept example (per step), and the ablation on the same budget (the same number of
   optimizer steps): only the reward-filtered (goal, trajectory) pairs (`modes = ["goal"]`);
4. evaluate on the held-out seeds: the base at the trained model's precision (`local/base-q8_0`) and the trained
   models in baseline mode on every held-out task; base and trained in agentic mode on `--agentic` of them
   (spread over the types); per type and pooled: success, n, Wilson 95% CI, McNemar against the base baseline,
   the tasks that flipped, tokens and wall time.

    .venv/bin/python bench/learning_miniwob.py                        # 10 types x 20 held-out seeds (hours)
    .venv/bin/python bench/learning_miniwob.py --heldout-seeds 10 --agentic 0      # a shorter run
    .venv/bin/python bench/learning_miniwob.py --fresh                             # start over

Whatever comes out is reported: a gain, no gain or a loss.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from common import BENCH_PORT, RESULTS, bench_config, local_model, machine, table, write_result  # noqa: E402
from learning_effect import arm_rows, existing_project, ticker, train_once  # noqa: E402

from lbi.config import JudgeSpec  # noqa: E402
from lbi.envs.browsergym.benchmark import import_benchmark  # noqa: E402
from lbi.project import Project, init_project  # noqa: E402
from lbi.store import committee  # noqa: E402
from lbi.synth import trust  # noqa: E402
from lbi.synth.backward import construct  # noqa: E402
from lbi.synth.judge import judge_examples  # noqa: E402
from lbi.synth.rollout import rollout  # noqa: E402
from lbi.train.base import publish_base  # noqa: E402
from lbi.train.data import training_data  # noqa: E402
from lbi.train.sft import train  # noqa: E402
from lbi.use import arms  # noqa: E402
from lbi.use.evaluate import evaluate, leakage  # noqa: E402

TYPES = (
    "click-test,click-test-2,click-button,click-link,click-dialog,click-dialog-2,click-tab,focus-text,focus-text-2,"
    "enter-text"
)
DESCRIPTION = "MiniWoB++ web tasks: small pages with buttons, links, tabs and text fields; the goal is given."
HELDOUT_FROM = 1000


def project_for(args: argparse.Namespace) -> Project:
    """The bench project, made or resumed; its tasks imported (again: a resumed run given more seeds gets them)."""
    folder = RESULTS / "learning_effect" / args.project_name
    types = [f"miniwob.{t.strip()}" for t in args.types.split(",") if t.strip()]
    project = existing_project(folder, args) or new_project(folder, args, types)
    for task in types:
        import_benchmark(project.store, project.config.env, task, f"0-{args.synth_seeds - 1}", split="synthetic")
        last = HELDOUT_FROM + args.heldout_seeds - 1
        import_benchmark(project.store, project.config.env, task, f"{HELDOUT_FROM}-{last}", split="heldout")
    return project


def new_project(folder: Path, args: argparse.Namespace, types: list[str]) -> Project:
    config = bench_config(args.model, port=args.port, threads=args.threads)
    config.env.name = "browsergym"
    config.env.options = {
        "task": types[0],
        "action_subsets": ["miniwob_liu18"],
        "synth_seeds": f"0-{args.synth_seeds - 1}",
        "screenshots": False,
    }
    config.env.description = DESCRIPTION
    rules = [JudgeSpec(name=name, focus=name) for name in args.judges.split(",") if name.strip()]
    config.models.judges = (config.models.judges[:3] if args.model_judges else []) + rules
    config.synth.dedup_threshold = args.dedup
    config.synth.max_steps, config.synth.explore_fill, config.synth.judge_policy = args.max_steps, "words", "strict"
    config.train.max_seq_len = args.max_seq_len
    return init_project(folder, config)


def synthesize(project: Project, args: argparse.Namespace) -> dict[str, Any]:
    synthetic = len(project.tasks("synthetic", env="browsergym"))
    out: dict[str, Any] = {}
    out["llm"] = rollout(
        project,
        "synth-llm",
        policy="llm",
        limit=args.llm_rollouts,
        max_steps=args.max_steps,
        progress=ticker("rollouts llm"),
    )
    out["explore"] = rollout(
        project,
        "synth-explore",
        policy="explore",
        episodes=synthetic * args.explore,
        explore_from="tasks",
        max_steps=args.max_steps,
        progress=ticker("rollouts explore"),
    )
    # goal first: a hindsight label that repeats a goal on the same span is then the near-duplicate dropped
    modes = ["goal", "hindsight", *([args.backward_llm] if args.backward_llm else [])]
    for mode in modes:
        with project.run(f"synth-backward-{mode}", "backward") as run:
            out[f"backward_{mode}"] = construct(
                project, mode=mode, max_span=2, run_id=run.id, progress=ticker(f"backward {mode}")
            )
    with project.run("synth-filter", "filter") as run:
        out["filter"] = judge_examples(project, run_id=run.id, progress=ticker("committee"))
    if args.rejudge:  # the committee's judges changed since the examples were judged: every verdict again
        with project.run("synth-refilter", "filter") as run:
            out["refilter"] = judge_examples(project, run_id=run.id, progress=ticker("committee"), rejudge=True)
    return {k: vars(v) if hasattr(v, "__dict__") else v for k, v in out.items()}


def kept_by_mode(project: Project) -> dict[str, dict[str, int]]:
    """Examples made and kept (strict) per backward mode."""
    made = Counter(r[0] for r in project.store.query("SELECT mode FROM examples"))
    ids = committee.kept_ids(project.store, "strict", trust.voters(project.config))
    kept = Counter(
        r[0]
        for r in project.store.query(
            "SELECT mode FROM examples WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),)
        )
    )
    return {mode: {"made": made[mode], "kept": kept[mode]} for mode in sorted(made)}


def per_type(project: Project, specs: list[str]) -> list[dict[str, Any]]:
    """Success per task type and arm (`RUN:MODE`), as the Evaluation page shows it."""
    known = arms.arms(project.store)
    return arms.by_type(arms.grid(project.store, [arms.resolve(spec, known) for spec in specs]))


SHAPE = "shaped like this: "


def example_in(prompt_system: str) -> str | None:
    """The action the agent prompt showed as its reply example (the last line's JSON shape), or None."""
    line = prompt_system.rstrip().rsplit("\n", 1)[-1]
    if SHAPE not in line:
        return None
    try:
        return str(json.loads(line.split(SHAPE, 1)[1]).get("action") or "") or None
    except (json.JSONDecodeError, AttributeError):
        return None


def _same_call(a: str, b: str) -> bool:
    return a.replace('"', "'").replace(" ", "") == b.replace('"', "'").replace(" ", "")


def example_copies(rows: list[tuple[str, str, str, str, float]]) -> list[dict[str, Any]]:
    """Per task type and run, of episodes (`run, task id, first step's prompt_system, its action, reward`) how
    many opened by copying the prompt's example action, and how many of those copies succeeded: a base that
    copies the example everywhere succeeds where the example happens to name the right element."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for run, task_id, system, action, reward in rows:
        cell = counts[(task_id.split("@")[0], run)]
        cell[0] += 1
        example = example_in(system or "")
        if example and _same_call(example, action or ""):
            cell[1] += 1
            cell[2] += int((reward or 0) > 0)
    types = sorted({t for t, _ in counts})
    runs = sorted({r for _, r in counts})
    return [
        {"type": t, **{r: f"{c[1]}/{c[0]} ({c[2]} solved)" for r in runs if (c := counts.get((t, r)))}} for t in types
    ]


def copies_in(project: Project, runs: list[str]) -> list[dict[str, Any]]:
    """`example_copies` of these evaluation runs, read from the recorded first steps."""
    rows = project.store.query(
        "SELECT r.name, t.task_id, s.prompt_system, s.action, json_extract(t.config_json, '$.reward') "
        "FROM trajectories t JOIN runs r ON r.id = t.run_id JOIN steps s ON s.trajectory_id = t.id AND s.idx = 0 "
        f"WHERE r.name IN ({','.join('?' * len(runs))}) AND t.task_id IS NOT NULL",
        tuple(runs),
    )
    return example_copies([tuple(r) for r in rows])


def spread(project: Project, n: int) -> list[str]:
    """`n` held-out task ids, round-robin over the task types (the agentic arms' subset)."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for task in project.tasks("heldout", env="browsergym"):
        by_type[task.id.split("@")[0]].append(task.id)
    picked: list[str] = []
    while len(picked) < n and any(by_type.values()):
        for ids in by_type.values():
            if ids and len(picked) < n:
                picked.append(ids.pop(0))
    return picked


def evaluate_arms(
    project: Project, args: argparse.Namespace, models: list[tuple[str, str]], timings: dict[str, float]
) -> list[str]:
    """Each model in baseline mode on every held-out task; base and trained in agentic mode on a spread subset."""
    specs: list[str] = []
    for who, model in models:
        project.config.models.agent = model
        t = time.perf_counter()
        print(f"3. evaluate {who} ({model}) baseline", flush=True)
        evaluate(project, ["baseline"], run=f"eval-{who}", max_steps=args.max_steps, progress=ticker(f"eval {who}"))
        specs.append(f"eval-{who}:baseline")
        if args.agentic and who in ("base", f"trained{args.tag}"):
            print(f"   {who} agentic on {args.agentic} tasks", flush=True)
            # the base's agentic run is tagged too: it retrieves from this try's kept examples, as the trained does
            agentic = f"eval-{who}-agentic" + (args.tag if who == "base" else "")
            evaluate(
                project,
                ["agentic"],
                run=agentic,
                task_ids=spread(project, args.agentic),
                max_steps=args.max_steps,
                progress=ticker(f"eval {who} agentic"),
            )
            specs.append(f"{agentic}:agentic")
        timings[f"eval_{who}_s"] = time.perf_counter() - t
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--types", default=TYPES, help="MiniWoB++ task ids without the miniwob. prefix")
    parser.add_argument("--synth-seeds", type=int, default=6, help="synthesis seeds per type (0..N-1)")
    parser.add_argument("--heldout-seeds", type=int, default=20, help="held-out seeds per type (1000..)")
    parser.add_argument(
        "--llm-rollouts", type=int, default=0, help="llm rollouts on the first N synthetic tasks only (0: on each)"
    )
    parser.add_argument("--explore", type=int, default=1, help="explore walks per synthetic task")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--model", default="local/smollm2", help="the agent and every synthesis role")
    parser.add_argument("--judges", default="reward,grounding", help="the rule judges of the committee")
    parser.add_argument("--model-judges", action="store_true", help="add the three model judges to the committee")
    parser.add_argument(
        "--dedup",
        type=float,
        default=1.01,
        help="near-duplicate threshold (default: off: MiniWoB's seeds repeat an instruction over different pages, "
        "and dropping near-duplicates would keep one page per phrase)",
    )
    parser.add_argument("--backward-llm", default="", help="also the model's backward construction (batched)")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--max-records", type=int, default=240, help="training budget: a seeded sample of records")
    parser.add_argument("--lr", type=float, default=0.0, help="peak learning rate (0: train.learning_rate)")
    parser.add_argument(
        "--max-per-instruction",
        type=int,
        default=0,
        help="train on at most N kept examples per instruction (0: no cap): an explore walk clicks the same "
        '"Submit" on every page of a task',
    )
    parser.add_argument("--max-seq-len", type=int, default=1024)
    parser.add_argument("--agentic", type=int, default=60, help="held-out tasks for the agentic arms (0: none)")
    parser.add_argument("--no-ablation", action="store_true")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--tag", default="", help="a suffix for the training runs and their eval runs (a second try)")
    parser.add_argument(
        "--project-name", default="miniwob", help="the project folder under bench/results/learning_effect/"
    )
    parser.add_argument(
        "--rejudge", action="store_true", help="judge every example again (a resumed project whose judges changed)"
    )
    parser.add_argument("--stop-after", choices=["synthesize", "train"], default=None)
    args = parser.parse_args()
    started, timings = machine(), {}
    project = project_for(args)
    with local_model(project.config):
        t = time.perf_counter()
        print("1. synthesize", flush=True)
        synth = synthesize(project, args)
        timings["synthesize_s"] = time.perf_counter() - t
        kept = kept_by_mode(project)
        print("   examples made/kept by mode: " + json.dumps(kept), flush=True)
        if args.stop_after == "synthesize":
            return
        t = time.perf_counter()
        print("2. train on every kept example", flush=True)
        name = f"sft-all{args.tag}"
        trained = train_once(
            project,
            name,
            lambda: train(
                project,
                name,
                epochs=args.epochs,
                learning_rate=args.lr or None,
                max_records=args.max_records,
                max_per_instruction=args.max_per_instruction,
                progress=ticker("train all"),
            ),
        )
        timings["train_all_s"] = time.perf_counter() - t
        print(
            f"   {trained['records']} records, final loss {trained['final_loss']:.3f} → {trained['model']}", flush=True
        )
        models = [("base", publish_base(project.dir, project.config)), (f"trained{args.tag}", trained["model"])]
        if args.stop_after == "train":
            return
        specs = evaluate_arms(project, args, models, timings)
        ablated = None
        if not args.no_ablation:
            goal_records = len(
                training_data(project, modes=["goal"], max_per_instruction=args.max_per_instruction).records
            )  # an error says if there are none
            epochs = args.epochs * trained["records"] / max(goal_records, 1)  # the same number of optimizer steps
            print(f"4. ablation: the {goal_records} goal records only, {epochs:.2f} epochs", flush=True)
            t = time.perf_counter()
            ablated = train_once(
                project,
                f"sft-goal{args.tag}",
                lambda: train(
                    project,
                    f"sft-goal{args.tag}",
                    epochs=epochs,
                    modes=["goal"],
                    learning_rate=args.lr or None,
                    max_per_instruction=args.max_per_instruction,
                    progress=ticker("train goal"),
                ),
            )
            timings["train_goal_s"] = time.perf_counter() - t
            specs += evaluate_arms(project, args, [(f"goal-only{args.tag}", ablated["model"])], timings)
    rows = arm_rows(project, specs)
    columns = ["arm", "model", "n", "successes", "rate", "ci_low", "ci_high", "vs", "p", "flipped", "tokens", "wall s"]
    print(table(rows, columns, title="MiniWoB++ held-out seeds, pooled (each arm against the base baseline)"))
    types = per_type(project, specs)
    print(table(types, ["type", *specs], title="per task type: successes/n [Wilson 95% CI]"))
    runs = [spec.split(":")[0] for spec in specs]
    copies = copies_in(project, runs)
    print(table(copies, ["type", *sorted(set(runs))], title="first step copied the prompt's example action"))
    check = leakage(project)
    print(f"leakage: {'none' if check['ok'] else check['detail']}")
    path = write_result(
        "learning_miniwob",
        {
            "args": vars(args),
            "machine_start": started,
            "machine_end": machine(),
            "synthesis": synth,
            "examples_by_mode": kept,
            "train": trained,
            "ablation_goal_only": ablated,
            "arms": rows,
            "per_type": types,
            "example_copies": copies,
            "timings_s": timings,
            "leakage_ok": check["ok"],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
