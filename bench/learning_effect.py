"""Does the synthesized data make the agent better? The paper's loop end to end with the embedded model.

On one environment (default `sql`: the seeded Trac database and its 33 held-out questions), in a project kept
under `bench/results/learning_effect/<env>/` so an interrupted run resumes stage by stage:

1. synthesize: tasks generated from the environment's docs, llm and explore rollouts, batched backward
   construction, the committee (the default four judges, the strict policy);
2. train: `lbi train` (TRL SFT + LoRA on the kept examples, per step) from the embedded SmolLM2, served as
   `local/<name>` through the embedded llama.cpp server (merged, converted to GGUF at Q8_0), with the base it
   started from served beside it at the same precision, `local/base-q8_0` (the bundled Q4_1 file is not the base
   arm: 4-bit quantization erases a LoRA change, see `trained_precision.py`);
3. evaluate the arms on the held-out tasks, each a (model, mode) pair: baseline and agentic with the base
   model at the trained model's precision, then with the trained one; success with n and the Wilson 95%
   interval per arm, and each arm against the base baseline with McNemar's exact test over the same tasks and
   the tasks that flipped;
4. SFT throughput, back to back under the same load: a short `lbi train` run (`throughput-sft`, fresh, not
   served, stopped after `--bare-records` records) against a bare torch loop (forward, backward, AdamW step)
   over the same records with the same LoRA adapter; peak memory of the main training run.

    .venv/bin/python bench/learning_effect.py                         # sql, the default sizes (~1 h on 2 cores)
    .venv/bin/python bench/learning_effect.py --env trac --heldout 10
    .venv/bin/python bench/learning_effect.py --fresh                 # start the project over

Whatever comes out is reported: a gain, no gain or a loss.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from common import BENCH_PORT, RESULTS, bench_config, local_model, machine, table, write_result  # noqa: E402

from lbi.demos import env_options  # noqa: E402
from lbi.demos.trac import DESCRIPTION  # noqa: E402
from lbi.docs.ingest import add_source, import_tasks  # noqa: E402
from lbi.paths import demo_data_dir  # noqa: E402
from lbi.project import Project, init_project, open_project  # noqa: E402
from lbi.store import read  # noqa: E402
from lbi.synth.pipeline import SynthSizes, synthesize  # noqa: E402
from lbi.train.base import publish_base  # noqa: E402
from lbi.train.data import training_data  # noqa: E402
from lbi.train.sft import TrainReport, train  # noqa: E402
from lbi.use.arms import compare  # noqa: E402
from lbi.use.evaluate import evaluate, leakage  # noqa: E402

DOCS = {"sql": demo_data_dir() / "sql" / "schema.md"}
TASKS = {"sql": demo_data_dir() / "tasks" / "sql.jsonl", "trac": demo_data_dir() / "tasks" / "trac_web.jsonl"}
DESCRIPTIONS = {
    "sql": "The SQLite database of a Trac issue tracker: tickets, components, milestones, versions, "
    "wiki pages, read-only. Answer questions by querying it, then stop with the answer.",
    "trac": DESCRIPTION,
}


def ticker(label: str) -> Callable[[int, int], None]:
    """A progress callback printing `label: done/total` at most every 20 s (and at the end)."""
    last: list[Any] = [0.0, None]

    def tick(done: int, total: int) -> None:
        if (time.monotonic() - last[0] > 20 or done == total) and last[1] != (done, total):
            last[0], last[1] = time.monotonic(), (done, total)
            print(f"  {label}: {done}/{total}", flush=True)

    return tick


@contextmanager
def progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """The pipeline's progress factory, printing instead of drawing."""
    yield ticker(label)


def existing_project(folder: Path, args: argparse.Namespace) -> Project | None:
    """The bench project in `folder` to resume (on `--port`), or None after `--fresh` or when there is none yet."""
    if args.fresh and folder.exists():
        shutil.rmtree(folder)
    if not (folder / "lbi.toml").exists():
        return None
    project = open_project(folder)
    project.config.local_model.port = args.port
    return project


def project_for(args: argparse.Namespace) -> Project:
    folder = RESULTS / "learning_effect" / args.env
    if project := existing_project(folder, args):
        return project
    config = bench_config(args.synth_model or args.model, port=args.port, threads=args.threads)
    config.models.agent = args.model
    config.env.name, config.env.options = args.env, env_options(args.env)
    config.env.description = DESCRIPTIONS[args.env]
    config.synth.max_steps = args.max_steps
    project = init_project(folder, config)
    if args.env in DOCS:
        add_source(project, DOCS[args.env])
    import_tasks(project, TASKS[args.env])
    return project


def arm_rows(project: Project, specs: list[str]) -> list[dict[str, Any]]:
    """Per arm (`RUN:MODE`): success, n, Wilson CI, model, cost; each against the first (McNemar, flipped tasks)."""
    result = compare(project.store, specs)
    pairs = {row["arm"]: row for row in result.rows()}
    return [{**arm.row(), **{k: v for k, v in pairs.get(arm.label, {}).items() if k != "arm"}} for arm in result.arms]


def trained_run(project: Project, name: str, report: TrainReport | None = None) -> dict[str, Any] | None:
    """The finished training run `name` as the store recorded it (None if it has not finished): a re-run of the
    benchmark reuses it instead of converting it again."""
    row = next((r for r in read.train_runs(project.store) if r["name"] == name), None)
    if row is None or (report is None and (row["status"] != "done" or not row["model"])):
        return None
    curve = read.train_log(project.store, row["run_id"])
    return {
        "model": row["model"],
        "records": row["records"],
        "examples": len(row["examples"]),
        "steps": curve[-1]["step"] if curve else 0,
        "final_loss": curve[-1]["loss"] if curve else float("nan"),
        "tokens": row["tokens"],
        "tokens_per_s": row["tokens_per_s"],
        "wall_s": row["wall_s"],
        "peak_rss_mb": row["peak_rss_mb"],
        "too_long": report.too_long if report else None,
    }


def train_once(project: Project, name: str, run_training: Callable[[], TrainReport]) -> dict[str, Any]:
    """The finished training run `name`: the store's (a re-run of the benchmark) or `run_training()`'s."""
    run = trained_run(project, name) or trained_run(project, name, run_training())
    if run is None:
        raise SystemExit(f"the training run {name!r} is not in the store after training")
    return run


def ablation(project: Project, args: argparse.Namespace) -> dict[str, Any] | None:
    """Train on what the committee keeps without `--ablate-judge` (same settings as the main run), unless that
    keeps exactly the same examples; the run and its served model are named `<name>-without-<judge>`."""
    judges = [j.name for j in project.config.models.judges]
    if args.ablate_judge not in judges:
        raise SystemExit(f"--ablate-judge {args.ablate_judge!r} is not a judge of this project: {', '.join(judges)}")
    others = [j for j in judges if j != args.ablate_judge]
    with_all, without = training_data(project).example_ids, training_data(project, judges=others).example_ids
    refused = len(set(without) - set(with_all))
    print(
        f"   without the {args.ablate_judge} judge: {len(without)} examples kept ({refused} that it refused), "
        f"against {len(with_all)} with it",
        flush=True,
    )
    if set(without) == set(with_all):
        print("   the same examples: nothing to ablate", flush=True)
        return None
    name = f"{args.name}-without-{args.ablate_judge}"
    run = train_once(
        project, name, lambda: train(project, name, epochs=args.epochs, judges=others, progress=ticker(f"train {name}"))
    )
    return {**run, "name": name, "judges": others, "refused_by_judge": refused}


def sft_tokens_per_s(project: Project, records: int) -> dict[str, float]:
    """Tokens/s of `lbi train` over its first `records` records (a fresh run, stopped there, not served)."""
    from transformers import TrainerCallback

    steps = max(1, records // (project.config.train.batch_size * project.config.train.grad_accum))

    class StopAfter(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001, ANN202 - transformers' hook
            control.should_training_stop = state.global_step >= steps

    report = train(project, "throughput-sft", fresh=True, publish=False, epochs=1.0, callbacks=[StopAfter()])
    return {"tokens": report.tokens, "steps": report.steps, "tokens_per_s": report.tokens_per_s}


def bare_torch_tokens_per_s(project: Project, records: int, lora: dict[str, Any]) -> dict[str, float]:
    """Tokens/s of a plain loop (forward, backward, AdamW step) over the first `records` training records,
    tokenized as SFT does, with the same LoRA adapter on the same base model."""
    import torch
    from peft import LoraConfig, get_peft_model

    from lbi.train.base import load_base
    from lbi.train.data import token_ids, training_data

    model, tokenizer = load_base(project.config)
    model = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", **lora))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    data = training_data(project, per=project.config.train.per)
    batches = []
    for record in data.records[:records]:
        batches.append(torch.tensor([token_ids(tokenizer, record["messages"])[: project.config.train.max_seq_len]]))
    model.train()
    started, tokens = time.perf_counter(), 0
    for x in batches:
        loss = model(input_ids=x, labels=x).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        tokens += x.numel()
    seconds = time.perf_counter() - started
    return {"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="sql", choices=sorted(TASKS))
    parser.add_argument("--model", default="local/smollm2", help="the agent: the model trained and evaluated")
    parser.add_argument("--synth-model", default="", help="task generator, backward, judges (default: --model)")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--fresh", action="store_true", help="delete the bench project and start over")
    parser.add_argument("--chunks", type=int, default=12, help="doc chunks to generate tasks from")
    parser.add_argument("--per-chunk", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=16, help="generated tasks rolled out with the llm policy")
    parser.add_argument("--explore", type=int, default=16, help="explore episodes")
    parser.add_argument("--max-steps", type=int, default=4)
    parser.add_argument("--max-span", type=int, default=2)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--name", default="sft", help="training run (and served model) name")
    parser.add_argument("--heldout", type=int, default=0, help="at most this many held-out tasks (0: all)")
    parser.add_argument("--modes", default="baseline,agentic")
    parser.add_argument("--bare-records", type=int, default=16, help="records for the bare torch comparison")
    parser.add_argument(
        "--ablate-judge",
        default="grounding",
        help="also train on what the committee keeps without this judge and evaluate it (the "
        "grounded-only ablation: the main run trains on grounded examples only); empty: skip",
    )
    parser.add_argument("--stop-after", choices=["synthesize", "train"], default=None)
    args = parser.parse_args()
    started_machine, timings = machine(), {}
    project = project_for(args)
    with local_model(project.config):
        t = time.perf_counter()
        print("1. synthesize", flush=True)
        sizes = SynthSizes(
            chunks=args.chunks,
            per_chunk=args.per_chunk,
            tasks=args.tasks,
            explore=args.explore,
            max_steps=args.max_steps,
            concurrency=1,
            mode="batched",
            max_span=args.max_span,
        )
        synth = synthesize(project, sizes, progress, name="synth")
        timings["synthesize_s"] = time.perf_counter() - t
        print("   funnel: " + json.dumps(synth.funnel), flush=True)
        if args.stop_after == "synthesize":
            return

        t = time.perf_counter()
        print(f"2. train {args.name}", flush=True)
        trained = train_once(
            project, args.name, lambda: train(project, args.name, epochs=args.epochs, progress=ticker("train"))
        )
        timings["train_s"] = time.perf_counter() - t
        print(
            f"   {trained['records']} records, {trained['steps']} steps, final loss {trained['final_loss']:.3f}, "
            f"{trained['tokens_per_s']:.0f} tokens/s → {trained['model']}",
            flush=True,
        )
        base = publish_base(project.dir, project.config)  # what `lbi train` published beside it (nothing redone)
        print(f"   the base at the same precision: {base}", flush=True)
        models = [("base", base), ("trained", trained["model"])]
        ablated = ablation(project, args) if args.ablate_judge else None
        if ablated:
            models.append((ablated["name"], ablated["model"]))
        if args.stop_after == "train":
            return

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        arms = []
        for who, model in models:
            t = time.perf_counter()
            arm_modes = modes if who in ("base", "trained") else modes[:1]  # the ablation: the first mode only
            print(f"3. evaluate {who} ({model}): {', '.join(arm_modes)}", flush=True)
            project.config.models.agent = model
            evaluate(
                project,
                arm_modes,
                run=f"eval-{who}",
                limit=args.heldout or None,
                max_steps=args.max_steps,
                progress=ticker(f"eval {who}"),
            )
            timings[f"eval_{who}_s"] = time.perf_counter() - t
            arms += [f"eval-{who}:{mode}" for mode in arm_modes]
    rows = arm_rows(project, arms)
    columns = [
        "arm",
        "model",
        "n",
        "successes",
        "rate",
        "ci_low",
        "ci_high",
        "vs",
        "p",
        "flipped",
        "tokens",
        "model s",
        "wall s",
    ]
    print(table(rows, columns, title=f"learning effect on {args.env} ({args.model} → {trained['model']})"))
    if ablated:
        ablated["arms"] = arm_rows(project, [f"eval-trained:{modes[0]}", f"eval-{ablated['name']}:{modes[0]}"])
        print(
            table(
                ablated["arms"],
                columns,
                title=f"grounded-only ({trained['examples']} examples) against the "
                f"committee without {args.ablate_judge} ({ablated['examples']} examples)",
            )
        )
    print("4. SFT throughput against bare torch", flush=True)
    cfg = project.config.train
    sft = sft_tokens_per_s(project, args.bare_records)
    bare = bare_torch_tokens_per_s(
        project,
        args.bare_records,
        {
            "r": cfg.lora_r,
            "lora_alpha": cfg.lora_alpha,
            "lora_dropout": cfg.lora_dropout,
            "target_modules": list(cfg.target_modules),
        },
    )
    ratio = sft["tokens_per_s"] / bare["tokens_per_s"]
    print(
        f"   SFT {sft['tokens_per_s']:.0f} tokens/s, bare torch {bare['tokens_per_s']:.0f} tokens/s: ratio "
        f"{ratio:.2f} (goal >= 0.8); the main run: {trained['tokens_per_s']:.0f} tokens/s, peak RSS "
        f"{trained['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    check = leakage(project)
    print(f"   leakage: {'none' if check['ok'] else check['detail']}")
    path = write_result(
        "learning_effect",
        {
            "args": vars(args),
            "machine_start": started_machine,
            "machine_end": machine(),
            "funnel": synth.funnel,
            "train": trained,
            "sft_short": sft,
            "bare_torch": bare,
            "sft_vs_bare": ratio,
            "arms": rows,
            "ablation": ablated,
            "timings_s": timings,
            "leakage_ok": check["ok"],
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
