"""At which precision does the served model still answer as the model `lbi train` trained? (issue 27, step 0)

The embedded SmolLM2-135M is trained with `lbi train` (LoRA with the `[train]` defaults: r 16, alpha 32, lr 2e-4;
`--epochs` passes, per step) on `--episodes` scripted episodes of 4 steps on the SQL demo (the seeded Trac
database: a look at a table, the query, a check, `stop(answer)`; the fake model plays the script, the answers
come from the database). Then the merged model and the base it started from (`lbi.train.base.publish_base`) are
converted at each of `--quants` and served through the model seam as `local/NAME`, and every served model is
asked, as the agent asks (its reply schema, greedy), the first prompt of every training episode (`--steps all`:
every step's prompt). Per model × precision:

- actions as trained: the reply's action is the one trained on (for the base: the base does not know it);
- replies = float32: the reply equals the Hugging Face model's own greedy reply in float32 (transformers, no
  grammar), the merged model for the trained rows, the base as training loads it for the base rows;
- GGUF MB, median seconds per act call.

The bundled `local/smollm2` (Q4_1, what `lbi eval` used as the base before) is measured beside them.

    .venv/bin/python bench/trained_precision.py                      # 4 episodes x 8 epochs: ~36 min on 2 cores
    .venv/bin/python bench/trained_precision.py --epochs 1 --episodes 1 --name smoke   # a few minutes

The project lives in `bench/results/trained_precision/` (gitignored; models are never committed) and every
stage resumes: the episodes, the training run's checkpoints, each GGUF, the float32 replies and each served row
(`replies.json`); `--fresh` starts over.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from common import BENCH_PORT, RESULTS, bench_config, machine, table, write_result  # noqa: E402

from lbi.demos import env_options  # noqa: E402
from lbi.errors import OutputParseError  # noqa: E402
from lbi.models import local_llm  # noqa: E402
from lbi.models.convert import BUNDLED_QUANT, file_quant  # noqa: E402
from lbi.models.fake import FakeModel  # noqa: E402
from lbi.models.llm import LLM  # noqa: E402
from lbi.models.local import chat_prompt  # noqa: E402
from lbi.models.trained import publish, trained_model  # noqa: E402
from lbi.project import Project, init_project, open_project  # noqa: E402
from lbi.prompts.replies import reply_schema  # noqa: E402
from lbi.store import read  # noqa: E402
from lbi.synth.rollout import rollout  # noqa: E402
from lbi.train.base import load_base, publish_base  # noqa: E402
from lbi.train.data import training_data  # noqa: E402
from lbi.train.sft import train  # noqa: E402

FOLDER = RESULTS / "trained_precision"
DESCRIPTION = (
    "The SQLite database of a Trac issue tracker: tickets, components, milestones, versions, wiki pages, "
    "read-only. Answer questions by querying it, then stop with the answer."
)
# (instruction, [(reasoning, action)] * 3, the query whose first value is the answer); none is a held-out task
EPISODES: list[tuple[str, list[tuple[str, str]], str]] = [
    (
        "How many versions are defined?",
        [
            ("first look at the version table", "execute_sql('SELECT * FROM version LIMIT 3')"),
            ("now count the versions", "execute_sql('SELECT COUNT(*) FROM version')"),
            ("check the names too", "execute_sql('SELECT name FROM version')"),
        ],
        "SELECT COUNT(*) FROM version",
    ),
    (
        "How many tickets have the priority 'minor'?",
        [
            ("first look at the ticket table", "execute_sql('SELECT id, priority, status FROM ticket LIMIT 3')"),
            ("count the minor tickets", "execute_sql(\"SELECT COUNT(*) FROM ticket WHERE priority = 'minor'\")"),
            ("check the counts per priority", "execute_sql('SELECT priority, COUNT(*) FROM ticket GROUP BY priority')"),
        ],
        "SELECT COUNT(*) FROM ticket WHERE priority = 'minor'",
    ),
    (
        "Which milestone is due last? Give its name.",
        [
            ("first look at the milestones", "execute_sql('SELECT name, due FROM milestone LIMIT 3')"),
            ("order them by due date", "execute_sql('SELECT name FROM milestone ORDER BY due DESC LIMIT 1')"),
            ("check the due dates", "execute_sql('SELECT name, due FROM milestone ORDER BY due DESC')"),
        ],
        "SELECT name FROM milestone ORDER BY due DESC LIMIT 1",
    ),
    (
        "How many tickets does bob own?",
        [
            ("first look at the owners", "execute_sql('SELECT id, owner FROM ticket LIMIT 3')"),
            ("count the tickets of bob", "execute_sql(\"SELECT COUNT(*) FROM ticket WHERE owner = 'bob'\")"),
            ("check the counts per owner", "execute_sql('SELECT owner, COUNT(*) FROM ticket GROUP BY owner')"),
        ],
        "SELECT COUNT(*) FROM ticket WHERE owner = 'bob'",
    ),
]


def project_for(args: argparse.Namespace) -> Project:
    folder = FOLDER / args.name
    if args.fresh and folder.exists():
        shutil.rmtree(folder)
    if (folder / "lbi.toml").exists():
        project = open_project(folder)
        project.config.local_model.port = args.port
        return project
    config = bench_config("fake", port=args.port, threads=args.threads)
    config.env.name, config.env.options = "sql", env_options("sql")
    config.env.description = DESCRIPTION
    config.synth.max_steps = 4
    return init_project(folder, config)


def scripted_episodes(project: Project, n: int) -> int:
    """`n` scripted 4-step episodes (the fake model plays them), each kept whole; returns the records per epoch."""
    db = project.config.env.options["db"]
    script: dict[str, list[tuple[str, str]]] = {}
    for instruction, steps, answer_query in EPISODES[:n]:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            answer = str(conn.execute(answer_query).fetchone()[0])
        script[instruction] = [*steps, ("that is the answer", f"stop('{answer}')")]

    def act(messages: list[dict[str, Any]], schema: dict[str, Any] | None) -> str:
        turn = messages[-1]["content"]
        instruction = turn.split("\n", 1)[0].removeprefix("Task: ")
        history = turn.split("Previous actions:\n", 1)[1].split("\n\nCurrent observation:", 1)[0]
        done = 0 if history == "(none yet)" else int(history.splitlines()[-1].split(".", 1)[0]) + 1  # numbered from 0
        reasoning, action = script[instruction][done]
        return json.dumps({"reasoning": reasoning, "action": action})

    FakeModel.register_responder("act", act)
    ids = [f"precision-{k}" for k in range(n)]
    project.store.add_tasks(
        [
            {"id": tid, "instruction": instruction, "env": "sql", "split": "synthetic", "spec_json": {}}
            for tid, (instruction, _, _) in zip(ids, EPISODES, strict=False)
        ]
    )
    rollout(project, "scripted", policy="llm", task_ids=ids, concurrency=1, max_steps=4)
    kept = {row[0] for row in project.store.query("SELECT trajectory_id FROM examples")}
    for tid, n_steps in project.store.query(
        "SELECT t.id, COUNT(s.id) FROM trajectories t JOIN steps s ON s.trajectory_id = t.id GROUP BY t.id"
    ):
        if tid not in kept:
            (example,) = project.store.add_examples(
                [
                    {
                        "trajectory_id": tid,
                        "span_start": 0,
                        "span_end": n_steps - 1,
                        "mode": "per-span",
                        "instruction": _instruction(project, tid),
                    }
                ]
            )
            project.store.add_override(example, "keep", who="bench/trained_precision.py")
    return len(training_data(project).records)


def _instruction(project: Project, trajectory_id: int) -> str:
    return project.store.query("SELECT instruction FROM trajectories WHERE id = ?", (trajectory_id,))[0][0]


def trained(project: Project, args: argparse.Namespace) -> dict[str, Any]:
    """The training run (resumed from its checkpoints; not redone once done), as the store recorded it."""
    files = trained_model(project.dir, "sft")
    row = next((r for r in read.train_runs(project.store) if r["name"] == "sft"), None)
    if row is None or row["status"] != "done" or not (files.hf_dir / "config.json").is_file():
        train(
            project,
            "sft",
            epochs=args.epochs,
            threads=args.train_threads or None,
            publish=False,
            progress=_ticker("train"),
        )
        row = next(r for r in read.train_runs(project.store) if r["name"] == "sft")
    curve = read.train_log(project.store, row["run_id"])
    return {
        "records": row["records"],
        "steps": curve[-1]["step"] if curve else 0,
        "first_loss": curve[0]["loss"] if curve else None,
        "final_loss": curve[-1]["loss"] if curve else None,
        "tokens": row["tokens"],
        "wall_s": row["wall_s"],
        "tokens_per_s": row["tokens_per_s"],
        "peak_rss_mb": row["peak_rss_mb"],
        "config": row["config"],
    }


def served_models(project: Project, quants: list[str]) -> list[dict[str, Any]]:
    """Per precision, the trained model (`sft-<q>`: the run's `hf/` converted at q) and the base (`base-<q>`)."""
    hf = trained_model(project.dir, "sft").hf_dir
    rows = []
    for quant in quants:
        name = f"sft-{quant.lower()}"
        files = trained_model(project.dir, name)
        if not files.gguf.is_file() or files.gguf.stat().st_mtime < (hf / "model.safetensors").stat().st_mtime:
            print(f"   publish {name}", flush=True)
            files.dir.mkdir(parents=True, exist_ok=True)
            if not files.hf_dir.exists():
                files.hf_dir.symlink_to(hf)
            publish(project.dir, name, quant)
        base = publish_base(project.dir, project.config, quant)  # nothing redone once made
        print(f"   the base at {quant}: {base}", flush=True)
        rows += [
            {"model": "trained", "quant": quant, "name": f"local/{name}", "reference": "trained"},
            {"model": "base", "quant": quant, "name": base, "reference": "base"},
        ]
    return rows


def prompts(project: Project, steps: str) -> list[dict[str, Any]]:
    """The training records whose prompts are asked: the first step of every episode (or every step)."""
    return [r for r in training_data(project).records if steps == "all" or r["step"] == 0]


def float32_replies(
    project: Project, records: list[dict[str, Any]], max_tokens: int, saved: dict[str, Any]
) -> dict[str, list[str]]:
    """Greedy replies of the merged model and of the base, in float32 with transformers (no grammar)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = saved.setdefault("float32", {})
    for who in ("trained", "base"):
        if len(out.get(who, [])) == len(records):
            continue
        print(f"   float32 replies of the {who} model", flush=True)
        if who == "trained":
            hf = trained_model(project.dir, "sft").hf_dir
            model = AutoModelForCausalLM.from_pretrained(hf, dtype=torch.float32)
            tokenizer = AutoTokenizer.from_pretrained(hf)
        else:
            model, tokenizer = load_base(project.config)
        model.eval()
        replies = []
        for record in records:
            ids = tokenizer(chat_prompt(record["messages"][:2]), return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                generated = model.generate(
                    **ids,
                    max_new_tokens=max_tokens,
                    do_sample=False,
                    eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                    pad_token_id=tokenizer.pad_token_id,
                )
            replies.append(tokenizer.decode(generated[0, ids["input_ids"].shape[1] :], skip_special_tokens=True))
        out[who] = replies
        del model
    return out


def act_calls(
    project: Project, row: dict[str, Any], records: list[dict[str, Any]], schema: Any, max_tokens: int
) -> list[dict[str, Any]]:
    """The agent's act call (its reply schema, greedy) on every prompt, through the model seam."""
    llm = LLM(project.config)
    calls = []
    for record in records:
        started = time.perf_counter()
        try:
            text = llm.complete(
                record["messages"][:2],
                role="agent",
                purpose="act",
                schema=schema,
                hint=False,
                model=row["name"],
                temperature=0.0,
                max_tokens=max_tokens,
                parse_retries=0,
            ).text
        except OutputParseError as exc:
            text = exc.raw
        calls.append({"reply": text, "s": time.perf_counter() - started})
    return calls


def _parsed(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def score(
    row: dict[str, Any],
    calls: list[dict[str, Any]],
    records: list[dict[str, Any]],
    reference: list[str],
    base_calls: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    """A row of the table. Replies are compared as JSON objects (spacing aside). The float32 model writes without
    the grammar, so where its reply is no JSON object (the untrained base) there is nothing to compare: `-`."""
    n = len(records)
    trained = [_parsed(r["messages"][2]["content"]) or {} for r in records]
    replies = [_parsed(c["reply"]) for c in calls]
    as_trained = sum(1 for p, t in zip(replies, trained, strict=True) if p and p.get("action") == t.get("action"))
    same_reply = sum(p == t for p, t in zip(replies, trained, strict=True))
    comparable = [(p, _parsed(ref)) for p, ref in zip(replies, reference, strict=True) if _parsed(ref)]
    as_float32 = sum(p == ref for p, ref in comparable)
    as_base = sum(c["reply"] == b["reply"] for c, b in zip(calls, base_calls, strict=True)) if base_calls else None
    gguf = Path(row["gguf"])
    return {
        "model": row["model"],
        "quant": row["quant"],
        "served as": row["name"],
        "file type": row["file_quant"],
        "actions as trained": f"{as_trained}/{n}",
        "replies as trained": f"{same_reply}/{n}",
        "replies = float32": f"{as_float32}/{len(comparable)}" if comparable else "-",
        "replies = served base's": "" if as_base is None else f"{as_base}/{n}",
        "GGUF MB": gguf.stat().st_size / 1e6,
        "s/call": statistics.median(c["s"] for c in calls),
    }


def _ticker(label: str):  # noqa: ANN202 - a progress callback
    last = [0.0]

    def tick(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 20 or done == total:
            last[0] = time.monotonic()
            print(f"  {label}: {done}/{total}", flush=True)

    return tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=4, choices=range(1, len(EPISODES) + 1))
    parser.add_argument("--epochs", type=float, default=8.0)
    parser.add_argument("--quants", default="Q4_1,Q8_0,F16", help="precisions served, comma-separated")
    parser.add_argument(
        "--steps",
        choices=["first", "all"],
        default="first",
        help="ask the first step's prompt of every episode, or every step's",
    )
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--name", default="default", help="the project's folder under bench/results/trained_precision/")
    parser.add_argument("--port", type=int, default=BENCH_PORT)
    parser.add_argument("--threads", type=int, default=0, help="the model server's threads (0: picked per decode)")
    parser.add_argument(
        "--train-threads",
        type=int,
        default=0,
        help="torch threads for training (train.threads; 0: every core); 1 may be faster under load",
    )
    parser.add_argument("--fresh", action="store_true", help="delete the bench project and start over")
    args = parser.parse_args()
    started_machine, started = machine(), time.perf_counter()
    project = project_for(args)
    quants = [q.strip().upper() for q in args.quants.split(",") if q.strip()]

    print(f"1. {args.episodes} scripted episodes", flush=True)
    records_per_epoch = scripted_episodes(project, args.episodes)
    print(f"   {records_per_epoch} step records", flush=True)
    print(f"2. train ({args.epochs:g} epochs)", flush=True)
    run = trained(project, args)
    print(
        f"   {run['records']} records, {run['steps']} steps, loss {run['first_loss']} → {run['final_loss']}, "
        f"{run['wall_s']:.0f} s",
        flush=True,
    )
    print(f"3. publish at {', '.join(quants)}", flush=True)
    rows = served_models(project, quants)
    rows.append({"model": "bundled", "quant": BUNDLED_QUANT, "name": "local/smollm2", "reference": "base"})
    for row in rows:
        alias = row["name"].removeprefix("local/")
        row["gguf"] = str(
            local_llm.bundled_model(project.config.local_model)
            if alias == local_llm.ALIAS
            else trained_model(project.dir, alias).gguf
        )
        row["file_quant"] = file_quant(Path(row["gguf"]))

    records = prompts(project, args.steps)
    saved_path = project.dir / "replies.json"
    saved = json.loads(saved_path.read_text()) if saved_path.exists() else {}
    weights = (trained_model(project.dir, "sft").hf_dir / "model.safetensors").stat().st_mtime_ns
    asked = {"prompts": [r["messages"][:2] for r in records], "max_tokens": args.max_tokens, "weights": weights}
    if any(saved.get(k) != v for k, v in asked.items()):  # other prompts or a retrained model: ask again
        saved = asked
    print(f"4. float32 replies to {len(records)} training prompts", flush=True)
    reference = float32_replies(project, records, args.max_tokens, saved)
    saved_path.write_text(json.dumps(saved, indent=1))

    print("5. act calls through the model seam", flush=True)
    with project.make_env() as env:
        schema = reply_schema(None, env.action_pattern())
    served = saved.setdefault("served", {})
    needed = {
        trained_model(project.dir, r["name"].removeprefix("local/")).alias(): Path(r["gguf"])
        for r in rows
        if r["model"] != "bundled"
    }
    was_running = local_llm.status(project.config.local_model).running
    local_llm.ensure_running(project.config.local_model, needed)  # every model at once: no restart mid-measure
    try:
        for row in rows:
            key = f"{row['name']}@{Path(row['gguf']).stat().st_mtime_ns}"
            if len(served.get(key, [])) != len(records):
                print(f"   {row['name']}", flush=True)
                served[key] = act_calls(project, row, records, schema, args.max_tokens)
                saved_path.write_text(json.dumps(saved, indent=1))
            row["calls"] = served[key]
    finally:
        if not was_running:
            local_llm.stop(project.config.local_model)
    base_at = {r["quant"]: r["calls"] for r in rows if r["model"] == "base"}
    results = [
        score(
            r,
            r["calls"],
            records,
            reference[r["reference"]],
            base_at.get(r["quant"]) if r["model"] == "trained" else None,
        )
        for r in rows
    ]
    print(
        table(
            results,
            title=f"SmolLM2-135M trained on {args.episodes} episodes × {args.epochs:g} epochs "
            f"({run['steps']} steps, final loss {run['final_loss']}), {len(records)} prompts",
        )
    )
    path = write_result(
        "trained_precision" + ("" if args.name == "default" else f"_{args.name}"),
        {
            "args": vars(args),
            "machine_start": started_machine,
            "machine_end": machine(),
            "train": run,
            "rows": results,
            "files": [{k: r[k] for k in ("name", "gguf", "file_quant")} for r in rows],
            "replies": saved,
            "wall_s": time.perf_counter() - started,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
