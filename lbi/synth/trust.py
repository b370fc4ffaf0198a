"""How far each judge of the committee can be trusted: its precision and recall on the judge benchmark, as measured.

`bench/judge_quality.py --quality` measures every judge it knows on the labelled set `data/judge_bench/` and writes
`data/judge_bench/quality.json` (`QualityFile`: one `Figure` per judge × environment × split, pooled over the
environments too, with the command, commit and date it came from); lbi ships that file. This module reads it and
says which figure applies to a judge as a project configures it (`JudgeSpec`) in the project's environment:

* a `grounding` judge is the rule on the recorded steps (`grounding`), or on a replay's effects
  (`grounding+replay`) when the committee also has a `replay` judge;
* a `replay` judge is `replay`;
* a model judge whose focus is `accomplishment`, `instruction` or `efficiency` is measured only with the model the
  benchmark ran (`QualityFile.model`, the embedded model): another model's judge is not measured;
* anything else (an `overall` judge, a judge the store holds verdicts of but the config does not name) is not
  measured.

The environment's own figure when the benchmark has one for that judge (a `browsergym` project gets the `miniwob`
set's), else the figure pooled over the environments it has (and the reason says so).

It also says which judges vote (`voting`, `voters`; `synth.judge_trust`): a judge measured at chance in the
project's environment (`at_chance`) is shown but its verdicts do not decide what is kept.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from lbi.config import Config, JudgeSpec
from lbi.paths import repo_root

QUALITY_PATH = repo_root() / "data" / "judge_bench" / "quality.json"
"""The measured figures lbi ships (`bench/judge_quality.py --quality` writes them)."""
REGENERATE = ".venv/bin/python bench/judge_quality.py --replay 0 --sample 12 --quality"
"""The command that measures every judge the benchmark knows and rewrites `QUALITY_PATH`."""
POOLED = "pooled"
"""The `env` of a figure summed over every environment the judge was measured in."""
MODEL_FOCI = ("accomplishment", "instruction", "efficiency")
"""The model judges' foci the benchmark measures (with `QualityFile.model`)."""
POLICY_JUDGES = (*MODEL_FOCI, "grounding")
"""The committee the benchmark's policies (`strict`, `majority`, `relaxed`) vote over: the default one."""
JUDGES = {
    "overlap": "the one-word overlap rule (before issue 26; no committee uses it)",
    "grounding": "the grounding rule on the recorded steps (a `grounding` judge)",
    "grounding+replay": "the grounding rule on a replay's effects (a `grounding` judge beside a `replay` judge)",
    "replay": "the span re-run from its start state in a fresh environment comes out the same",
    "rules": "grounding+replay and replay together (the judges that need no model)",
    **{f: f"the model judge with focus `{f}`" for f in MODEL_FOCI},
    **{p: f"the committee's {p} policy over {', '.join(POLICY_JUDGES)}" for p in ("strict", "majority", "relaxed")},
    "trusted": "the strict policy over the judges of the default committee that vote (`synth.judge_trust`), who votes "
    "decided from the other environments' figures",
    "trusted+replay": "the same with a `replay` judge (grounding on a replay's effects, and replay)",
}
"""What each of the benchmark's judges is."""


class Figure(BaseModel):
    """One judge on one environment (or `POOLED`) and split: confusion counts ("yes" = kept) and what follows."""

    model_config = ConfigDict(extra="forbid")

    judge: str
    env: str
    split: Literal["all", "test"]
    """`all` pairs, or the `test` half (the tasks the grounding rule's settings were not tuned on)."""
    n: int
    tp: int
    fp: int
    fn: int
    tn: int
    left_out: int = 0
    """Pairs the judge could not decide (a span that cannot be replayed, a reply that did not parse)."""
    precision: float | None
    recall: float | None
    accuracy: float | None
    precision_ci: tuple[float, float] | None
    recall_ci: tuple[float, float] | None
    accuracy_ci: tuple[float, float] | None
    """Wilson 95% intervals; None where the rate is undefined (nothing kept, no good pair)."""
    envs: list[str]
    """The environments the figure covers (several for `POOLED`)."""


class QualityFile(BaseModel):
    """`data/judge_bench/quality.json`: the judge benchmark's figures and where they came from."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    command: str
    """The command that wrote the file, from the repository's root."""
    commit: str
    dirty: bool
    """Whether `lbi/` or `bench/` had uncommitted changes then."""
    at: str
    set: str
    """The labelled set's folder, relative to the repository."""
    model: str | None
    """The model the model judges ran on; None when they were not measured."""
    seconds: float
    envs: list[str]
    figures: list[Figure]
    kept: str | None = None
    """Which figures were not measured by `command` but kept from an earlier run, and which run (the model judges'
    take half an hour of CPU: `bench/judge_quality.py --keep-models`); None when `command` measured them all."""

    def figure(self, judge: str, env: str, split: str = "all") -> Figure | None:
        return next((f for f in self.figures if (f.judge, f.env, f.split) == (judge, env, split)), None)


def load(path: Path = QUALITY_PATH) -> QualityFile | None:
    """The measured figures, or None when there are none at `path`; a file that does not match the schema raises
    (`pydantic.ValidationError`): lbi ships it, so that is a bug, not a user's mistake. Read again only when the
    file changes (every count of kept examples asks which judges vote)."""
    if not path.is_file():
        return None
    return _load(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load(path: Path, mtime_ns: int) -> QualityFile:
    return QualityFile.model_validate(json.loads(path.read_text(encoding="utf-8")))


def dump(quality: QualityFile) -> str:
    """The file's text: its header indented, one figure per line (small diffs when it is measured again)."""
    data = quality.model_dump(mode="json")
    figures = data.pop("figures")
    head = json.dumps(data, indent=1)[: -len("\n}")]
    lines = ",\n".join(f"  {json.dumps(f)}" for f in figures)
    return f'{head},\n "figures": [\n{lines}\n ]\n}}\n'


@dataclass(frozen=True)
class Trust:
    """What the benchmark says about one judge of a committee in one environment."""

    judge: str
    """The judge's name in the committee."""
    measured_as: str | None
    """The benchmark's judge that it is; None when it is not measured."""
    figure: Figure | None
    note: str
    """Which environment the figure is on (or why there is none)."""
    silenced: str = ""
    """Why this judge does not vote (`Voting.silenced`); empty when it votes."""

    def short(self) -> str:
        """One line: `P 86% [71-94] · R 94% [80-98] · n 115 (sql)`, or the reason it is not measured."""
        muted = "does not vote (at chance) · " if self.silenced else ""
        if self.figure is None:
            return muted + self.note
        f = self.figure
        measured = f"P {percent(f.precision, f.precision_ci)} · R {percent(f.recall, f.recall_ci)} · n {f.n}"
        return f"{muted}{measured} ({self.note})"

    def row(self) -> dict[str, Any]:
        f = self.figure
        return {
            "judge": self.judge,
            "votes": "no" if self.silenced else "yes",
            "measured as": self.measured_as or "",
            "on": self.note,
            "precision": percent(f.precision, f.precision_ci) if f else "not measured",
            "recall": percent(f.recall, f.recall_ci) if f else "",
            "accuracy": percent(f.accuracy, f.accuracy_ci) if f else "",
            "n": f.n if f else None,
        }


def percent(value: float | None, ci: tuple[float, float] | None) -> str:
    """`86% [71-94]` (the rate and its 95% interval), or `-` when the rate is undefined."""
    if value is None:
        return "-"
    return f"{value:.0%}" + (f" [{ci[0] * 100:.0f}-{ci[1] * 100:.0f}]" if ci else "")


def bench_judge(spec: JudgeSpec, committee: Sequence[JudgeSpec], default_model: str, quality: QualityFile) -> str:
    """The benchmark's judge a configured judge is, or `not measured: ...` (why)."""
    if spec.focus == "grounding":
        return "grounding+replay" if any(j.focus == "replay" for j in committee) else "grounding"
    if spec.focus == "replay":
        return "replay"
    if spec.focus in MODEL_FOCI:
        model = spec.model or default_model
        if quality.model is None:
            return "not measured: the benchmark ran no model judge"
        if model != quality.model:
            return f"not measured: the benchmark ran the model judges on {quality.model}, not {model}"
        return spec.focus
    return f"not measured: the benchmark has no judge with focus {spec.focus!r}"


BENCH_ENVS = {"browsergym": "miniwob"}
"""Environments the benchmark measures under the name of their set: the `browsergym` env's MiniWoB++ tasks are the
`miniwob` set (episodes labelled by BrowserGym's reward)."""


def _pick(quality: QualityFile, judge: str, env: str, split: str) -> tuple[Figure | None, str]:
    if (own := quality.figure(judge, env, split)) is not None:
        return own, env
    if env in BENCH_ENVS and (own := quality.figure(judge, BENCH_ENVS[env], split)) is not None:
        return own, f"{BENCH_ENVS[env]} (the {env} env's MiniWoB++ tasks)"
    pooled = quality.figure(judge, POOLED, split)
    if pooled is None:
        return None, "not measured on the benchmark"
    why = (
        f"pooled over {', '.join(pooled.envs)}: the benchmark has no {env!r} environment"
        if env not in quality.envs
        else f"pooled over {', '.join(pooled.envs)}: not measured on {env!r}"
    )
    return pooled, why


def trust(
    names: Sequence[str],
    committee: Sequence[JudgeSpec],
    env: str,
    default_model: str,
    quality: QualityFile | None,
    split: str = "all",
) -> list[Trust]:
    """How far each judge of `names` can be trusted in `env` (the committee `committee` configures; a name it does
    not configure, e.g. an old judge's verdicts in the store, is not measured)."""
    specs = {j.name: j for j in committee}
    out = []
    for name in names:
        spec = specs.get(name)
        if quality is None:
            out.append(Trust(name, None, None, "not measured: no quality file (run the judge benchmark)"))
        elif spec is None:
            out.append(Trust(name, None, None, "not measured: not a judge of this project's committee"))
        elif (judge := bench_judge(spec, committee, default_model, quality)).startswith("not measured"):
            out.append(Trust(name, None, None, judge))
        else:
            figure, note = _pick(quality, judge, env, split)
            out.append(Trust(name, judge, figure, note))
    return out


def for_config(
    config: Config, names: Sequence[str] | None = None, policy: str = "", quality: QualityFile | None = None
) -> tuple[list[Trust], Trust | None]:
    """Each judge's trust (those of `names`, or of the configured committee) in the configured environment, and
    the policy's (`policy`, or the configured one) when the benchmark measured this committee; `quality` defaults
    to the shipped figures."""
    quality = quality or load()
    judges, env, default = config.models.judges, config.env.name, config.models.default
    names = [j.name for j in judges] if names is None else names
    votes = voting(config, quality)
    trusts = [replace(t, silenced=votes.silenced.get(t.judge, "")) for t in trust(names, judges, env, default, quality)]
    voters = [j for j in judges if votes.votes(j.name)]
    policy = policy or config.synth.judge_policy
    named = f"committee ({policy})"
    if len(voters) == 1:  # any policy over one judge is that judge
        whole = next((replace(t, judge=named) for t in trusts if t.judge == voters[0].name and t.figure), None)
    elif sorted(j.focus for j in voters) == ["grounding", "replay"] and policy != "relaxed" and quality is not None:
        figure, note = _pick(quality, "rules", env, "all")  # both must say yes: the benchmark's `rules`
        whole = Trust(named, "rules", figure, note) if figure else None
    else:
        whole = policy_trust(policy, voters, env, default, quality)
    return trusts, whole


def policy_trust(
    policy: str,
    committee: Sequence[JudgeSpec],
    env: str,
    default_model: str,
    quality: QualityFile | None,
    split: str = "all",
) -> Trust | None:
    """The committee's `policy` as the benchmark measured it, when the committee is the one it measured (the three
    model judges on its model and `grounding`, nothing else); None otherwise."""
    if quality is None or quality.model is None:
        return None
    foci = sorted(j.focus for j in committee)
    models = {j.model or default_model for j in committee if j.focus in MODEL_FOCI}
    if foci != sorted(POLICY_JUDGES) or models != {quality.model}:
        return None
    figure, note = _pick(quality, policy, env, split)
    return Trust(f"committee ({policy})", policy, figure, note) if figure else None


def source(quality: QualityFile) -> str:
    """Where the figures came from, in one line."""
    dirty = " with uncommitted changes" if quality.dirty else ""
    model = f"model judges on {quality.model}" if quality.model else "no model judge"
    when = f"{quality.at[:10]}, {quality.seconds:.0f} s"
    return f"`{quality.command}` at commit {quality.commit}{dirty} ({when}; {model})"


def base_rate(figure: Figure) -> float | None:
    """The share of good pairs among those the judge decided: what a judge that keeps everything reaches."""
    n = figure.tp + figure.fp + figure.fn + figure.tn
    return (figure.tp + figure.fn) / n if n else None


def at_chance(figure: Figure) -> bool:
    """No better than chance: the precision's 95% interval reaches down to the base rate (or the judge kept
    nothing: no precision to speak of). A judge that says yes as often to a bad pair as to a good one."""
    rate = base_rate(figure)
    if rate is None:
        return False
    if figure.precision_ci is None:
        return True
    return figure.precision_ci[0] <= rate


UNMEASURABLE = ("replay",)
"""Judges the benchmark cannot show better than chance: every pair of it replays (a span that does not is left out),
so the replay judge says yes to the bad pairs too; what it checks (a span that only worked by accident) is not in
the set. They always vote."""


@dataclass(frozen=True)
class Voting:
    """Which judges of a committee vote (their verdicts decide what is kept) and why the others do not."""

    judges: tuple[str, ...]
    """The voting judges, in the committee's order: the `judges` argument of `lbi.store.committee`'s functions."""
    silenced: dict[str, str] = field(default_factory=dict)
    """Judge → why it does not vote (shown beside its verdicts)."""
    note: str = ""
    """A remark on the whole (every judge votes though the benchmark found them at chance; why)."""

    def votes(self, judge: str) -> bool:
        return judge in self.judges

    def line(self) -> str:
        """One line for a page or the CLI: who votes, who does not and why."""
        out = f"voting: {', '.join(self.judges)}"
        if self.silenced:
            out += "; not voting: " + "; ".join(f"{k} ({why})" for k, why in self.silenced.items())
        return out + (f". {self.note}" if self.note else "")


def voting(config: Config, quality: QualityFile | None = None) -> Voting:
    """The judges of the configured committee that vote (`synth.judge_trust`): with `measured`, a judge the benchmark
    found no better than chance in this environment (`at_chance`) does not, unless none would be left."""
    judges = [j.name for j in config.models.judges]
    if config.synth.judge_trust == "all":
        return Voting(tuple(judges))
    quality = quality or load()
    trusts = trust(judges, config.models.judges, config.env.name, config.models.default, quality)
    silenced = {
        t.judge: f"measured at chance: precision {percent(t.figure.precision, t.figure.precision_ci)} where "
        f"{base_rate(t.figure):.0%} of the pairs are good, {t.note}"
        for t in trusts
        if t.figure is not None and t.measured_as not in UNMEASURABLE and at_chance(t.figure)
    }
    voters = tuple(j for j in judges if j not in silenced)
    if voters:
        return Voting(voters, silenced)
    note = f"every judge votes: the benchmark found none of them better than chance in {config.env.name!r}"
    if quality is not None and not any(j.focus == "replay" for j in config.models.judges):
        replayed, on = _pick(quality, "grounding+replay", config.env.name, "all")
        if replayed is not None:
            note += (
                " (with a `replay` judge, `grounding` reads the span's real effects: precision "
                f"{percent(replayed.precision, replayed.precision_ci)}, recall {percent(replayed.recall, None)}"
                f" on {on})"
            )
    return Voting(tuple(judges), {}, note)


def voters(config: Config) -> tuple[str, ...]:
    """The judges whose verdicts decide what is kept in a project configured by `config`: the `judges` argument of
    `lbi.store.committee`'s functions (`voting`, with the shipped figures)."""
    return voting(config).judges
