"""What a training run learns from: the kept examples' records, in the format the agent acts in.

The records are the export's (`lbi.use.export.build_records`): each is a chat whose system and user turns are
the agent's prompt at that step (`lbi.prompts.messages.agent_turn`) and whose assistant turns are the JSON replies the
agent wrote. Only examples that may become training data are there (`lbi.store.read.TRAINABLE`: never a
held-out task, never an evaluation run); `check_trainable` refuses anything else, as a second lock.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lbi.curate.clusters import normalise
from lbi.errors import UserError, check_choice
from lbi.project import Project
from lbi.store import committee, read

CHATML_TRAINING_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{%- endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{%- if message['role'] == 'assistant' %}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\\n' }}"
    "{%- else %}{{ message['content'] + '<|im_end|>\\n' }}{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)
"""SmolLM2's chat template (ChatML) with TRL's `{% generation %}` markers around each reply and its end token,
so the loss falls on the assistant's replies only. It renders exactly what llama.cpp's server feeds the
model at inference (`lbi.models.local.chat_prompt`)."""


def token_ids(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """The tokens a record is trained on (`CHATML_TRAINING_TEMPLATE` applied by `tokenizer`)."""
    return list(
        tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, chat_template=CHATML_TRAINING_TEMPLATE
        )["input_ids"]
    )


class TrainDataError(UserError):
    """Nothing (or something forbidden) to train on; the message says what to do."""


@dataclass
class TrainingData:
    records: list[dict[str, Any]]
    example_ids: list[int]
    policy: str
    per: str

    @property
    def digest(self) -> str:
        """A hash of exactly what is trained on (the records' messages, in order): a resumed run must see the same."""
        h = hashlib.sha256()
        for record in self.records:
            h.update(json.dumps(record["messages"], sort_keys=True, ensure_ascii=False).encode())
        return h.hexdigest()[:16]


def capped_per_instruction(examples: Sequence[dict[str, Any]], cap: int) -> set[int]:
    """The ids of at most `cap` examples per instruction (compared without case or surrounding space), a seeded
    sample within each instruction's examples."""
    groups: dict[str, list[int]] = {}
    for e in examples:
        groups.setdefault(normalise(str(e["instruction"])), []).append(int(e["id"]))
    rng = random.Random(0)
    return {i for ids in groups.values() for i in (rng.sample(ids, cap) if len(ids) > cap else ids)}


def check_trainable(project: Project, example_ids: list[int]) -> None:
    """Refuse examples from held-out tasks or evaluation runs (the leakage lock)."""
    if bad := read.untrainable_examples(project.store, example_ids):
        raise TrainDataError(
            f"examples {bad[:10]} come from held-out tasks or evaluation runs and may never be trained on"
        )


def training_data(
    project: Project,
    *,
    per: str = "step",
    policy: str = "",
    judges: Sequence[str] = (),
    modes: Sequence[str] = (),
    max_records: int = 0,
    max_per_instruction: int = 0,
) -> TrainingData:
    """The records of the examples the committee keeps under `policy` (default: `synth.judge_policy`), counting
    only the verdicts of `judges` when given (default: the whole committee), made by the backward `modes` when
    given (default: any); of the examples sharing an instruction at most `max_per_instruction` (a seeded sample;
    0: all); at most `max_records` records in all (a seeded sample, in order; 0: all)."""
    from lbi.use.export import PERS, build_records

    if max_records < 0 or max_per_instruction < 0:
        raise TrainDataError("max_records and max_per_instruction are counts: give 0 (no cap) or more")
    policy = committee.check_policy(policy or project.config.synth.judge_policy)
    names = committee.judge_names(project.store, [j.name for j in project.config.models.judges])
    if unknown := [j for j in judges if j not in names]:
        raise TrainDataError(f"unknown judge {', '.join(map(repr, unknown))}: the committee is {', '.join(names)}")
    unit = check_choice("record unit (per)", per, PERS)
    examples, records, _missing = build_records(project, unit, policy, only=judges, modes=modes)
    if not records:
        looser = {
            "strict": " or train with a looser policy (`--policy majority` or `relaxed`)",
            "majority": " or train with `--policy relaxed`",
        }.get(policy, "")
        among = f" among the {', '.join(modes)} examples" if modes else ""
        raise TrainDataError(
            f"no kept examples to train on under the `{policy}` judge policy{among}: synthesize and "
            f"filter first (`lbi synthesize`, or `lbi backward` then `lbi filter`){looser}"
        )
    ids = [int(e["id"]) for e in examples]
    check_trainable(project, ids)
    if max_per_instruction:
        capped = capped_per_instruction(examples, max_per_instruction)
        records = [r for r in records if r["example_id"] in capped]
        ids = [i for i in ids if i in capped]
    if max_records and len(records) > max_records:
        chosen = sorted(random.Random(0).sample(range(len(records)), max_records))
        records = [records[k] for k in chosen]
        sampled = {r["example_id"] for r in records}
        ids = [i for i in ids if i in sampled]
    for record in records:
        record.pop("images", None)  # text-only training; screenshots stay in the export
    return TrainingData(records=records, example_ids=ids, policy=policy, per=per)
