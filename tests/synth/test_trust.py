"""How far each judge can be trusted (`lbi.synth.trust`): the shipped figures match the schema and cover the default
committee; which figure applies to a configured judge in an environment (its own, pooled, or none, and why)."""

from __future__ import annotations

import pytest

from lbi.config import LOCAL_MODEL, Config, JudgeSpec, ModelsConfig
from lbi.synth import trust
from lbi.use.evaluate import wilson


def test_the_shipped_figures_match_the_schema_and_cover_the_default_committee() -> None:
    text = trust.QUALITY_PATH.read_text(encoding="utf-8")
    quality = trust.load()
    assert quality is not None and trust.dump(quality) == text, "the file is what the bench writes"
    assert quality.command.startswith(".venv/bin/python bench/judge_quality.py") and "--quality" in quality.command
    assert len(quality.commit) >= 7 and quality.at[:2] == "20"
    assert set(quality.envs) == {"sql", "trac", "desktop", "repo", "miniwob"}
    committee = ModelsConfig().judges
    measured = [trust.bench_judge(j, committee, LOCAL_MODEL, quality) for j in committee]
    assert not [m for m in measured if m.startswith("not measured")], measured
    assert set(measured) == {"accomplishment", "instruction", "efficiency", "grounding"}
    for judge in measured:
        pooled = quality.figure(judge, trust.POOLED)
        assert pooled is not None and set(pooled.envs) <= set(quality.envs)
        own = [f for f in quality.figures if (f.judge, f.split) == (judge, "all") and f.env != trust.POOLED]
        assert pooled.n == sum(f.n for f in own)
    for f in quality.figures:
        assert f.n == f.tp + f.fp + f.fn + f.tn > 0
        assert f.precision is None or f.precision == pytest.approx(f.tp / (f.tp + f.fp), abs=1e-4)
        assert f.recall is None or f.recall == pytest.approx(f.tp / (f.tp + f.fn), abs=1e-4)
        for rate, ci in ((f.precision, f.precision_ci), (f.recall, f.recall_ci), (f.accuracy, f.accuracy_ci)):
            assert (rate is None) == (ci is None)
            assert rate is None or ci is None or ci[0] <= rate <= ci[1]
    assert quality.figure("grounding", "sql") is not None and quality.figure("grounding+replay", "repo") is not None


def test_the_judges_that_need_no_model_meet_the_goal_in_every_environment() -> None:
    """Issue 26: >= 90% precision at >= 70% recall in every environment of the shipped set, for `rules` (grounding on
    a replay's effects and replay together) where the bench replays the spans, else `grounding` (MiniWoB++: a
    project's episodes, not replayable here)."""
    quality = trust.load()
    assert quality is not None
    for env in quality.envs:
        for split in ("all", "test"):
            f = quality.figure("rules", env, split) or quality.figure("grounding", env, split)
            assert f is not None and f.precision is not None and f.recall is not None, (env, split)
            assert f.precision >= 0.9 and f.recall >= 0.7, (f.judge, env, split, f.precision, f.recall)
    assert quality.figure("rules", "miniwob") is None  # never replayed: left out, not counted as passes
    replay = quality.figure("replay", "miniwob")
    assert replay is None or replay.n == 0


def _figure(judge: str, env: str, tp: int, fp: int, envs: list[str] | None = None) -> trust.Figure:
    return trust.Figure(
        judge=judge,
        env=env,
        split="all",
        n=tp + fp,
        tp=tp,
        fp=fp,
        fn=0,
        tn=0,
        precision=tp / (tp + fp),
        recall=1.0,
        accuracy=tp / (tp + fp),
        precision_ci=(0.1, 0.9),
        recall_ci=(0.5, 1.0),
        accuracy_ci=(0.1, 0.9),
        envs=envs or [env],
    )


QUALITY = trust.QualityFile(
    command=".venv/bin/python bench/judge_quality.py --quality",
    commit="abc1234",
    dirty=False,
    at="2026-01-01T00:00:00+00:00",
    set="data/judge_bench",
    model=LOCAL_MODEL,
    seconds=1.0,
    envs=["sql", "trac"],
    figures=[
        _figure("grounding", "sql", 9, 1),
        _figure("grounding", trust.POOLED, 15, 5, ["sql", "trac"]),
        _figure("grounding", "miniwob", 7, 0),
        _figure("grounding+replay", "trac", 8, 2),
        _figure("accomplishment", "sql", 1, 1),
        _figure("strict", "sql", 2, 2),
    ],
)


def test_a_judge_gets_its_envs_figure_else_the_pooled_one_and_says_so() -> None:
    committee = ModelsConfig().judges
    names = [j.name for j in committee]
    on_sql = {t.judge: t for t in trust.trust(names, committee, "sql", LOCAL_MODEL, QUALITY)}
    assert on_sql["grounding"].note == "sql" and on_sql["grounding"].figure == QUALITY.figures[0]
    assert on_sql["grounding"].short() == "P 90% [10-90] · R 100% [50-100] · n 10 (sql)"
    assert on_sql["accomplishment"].measured_as == "accomplishment"
    assert on_sql["instruction"].figure is None and on_sql["instruction"].note == "not measured on the benchmark"
    on_web = {t.judge: t for t in trust.trust(names, committee, "web", LOCAL_MODEL, QUALITY)}
    assert on_web["grounding"].figure == QUALITY.figures[1]
    assert on_web["grounding"].note == "pooled over sql, trac: the benchmark has no 'web' environment"
    on_gym = {t.judge: t for t in trust.trust(names, committee, "browsergym", LOCAL_MODEL, QUALITY)}
    assert on_gym["grounding"].figure == QUALITY.figures[2]  # the miniwob set's
    assert on_gym["grounding"].note == "miniwob (the browsergym env's MiniWoB++ tasks)"


def test_what_the_benchmark_did_not_measure_says_why() -> None:
    gpt = "openai/gpt-4o-mini"
    committee = [
        JudgeSpec(name="g", focus="grounding"),
        JudgeSpec(name="r", focus="replay"),
        JudgeSpec(name="gpt", focus="accomplishment", model=gpt),
        JudgeSpec(name="vibes", focus="overall"),
    ]
    got = {t.judge: t for t in trust.trust(["g", "r", "gpt", "vibes", "gone"], committee, "trac", LOCAL_MODEL, QUALITY)}
    assert got["g"].measured_as == "grounding+replay" and got["g"].note == "trac"  # beside a replay judge
    assert got["r"].figure is None and got["r"].measured_as == "replay"
    assert got["gpt"].short() == f"not measured: the benchmark ran the model judges on {LOCAL_MODEL}, not {gpt}"
    assert got["vibes"].short() == "not measured: the benchmark has no judge with focus 'overall'"
    assert got["gone"].short() == "not measured: not a judge of this project's committee"
    assert trust.trust(["g"], committee, "sql", LOCAL_MODEL, None)[0].short().startswith("not measured: no quality")


def test_the_policy_is_measured_only_for_the_committee_the_benchmark_ran() -> None:
    config = Config()
    config.env.name = "sql"
    config.synth.judge_trust = "all"  # every judge votes: the committee the benchmark ran
    _, strict = trust.for_config(config, policy="strict", quality=QUALITY)
    assert strict is not None and strict.judge == "committee (strict)" and strict.figure == QUALITY.figures[-1]
    config.models.judges.append(JudgeSpec(name="replay", focus="replay"))
    assert trust.for_config(config, policy="strict", quality=QUALITY)[1] is None
    config.models.judges.pop()
    config.models.default = "fake"
    assert trust.for_config(config, policy="strict", quality=QUALITY)[1] is None


def _measured(judge: str, env: str, tp: int, fp: int, fn: int, tn: int) -> trust.Figure:
    """A figure as the bench computes it (Wilson intervals)."""
    kept, good, n = tp + fp, tp + fn, tp + fp + fn + tn
    return trust.Figure(
        judge=judge,
        env=env,
        split="all",
        n=n,
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        precision=tp / kept if kept else None,
        recall=tp / good if good else None,
        accuracy=(tp + tn) / n,
        precision_ci=wilson(tp, kept) if kept else None,
        recall_ci=wilson(tp, good) if good else None,
        accuracy_ci=wilson(tp + tn, n),
        envs=[env],
    )


# on sql: the model judges keep about as many bad pairs as good ones (20% good); grounding is far above that
CHANCE = QUALITY.model_copy(
    update={
        "envs": ["sql"],
        "figures": [
            _measured("grounding", "sql", 19, 1, 1, 79),
            _measured("grounding+replay", "sql", 20, 0, 0, 80),
            _measured("accomplishment", "sql", 4, 15, 0, 1),
            _measured("instruction", "sql", 3, 12, 1, 4),
            _measured("efficiency", "sql", 4, 14, 0, 2),
            _measured("strict", "sql", 3, 1, 1, 15),
        ],
    }
)


def test_a_judge_measured_at_chance_is_shown_but_does_not_vote() -> None:
    config = Config()
    config.env.name = "sql"
    voting = trust.voting(config, CHANCE)
    assert voting.judges == ("grounding",)
    assert set(voting.silenced) == {"accomplishment", "instruction", "efficiency"}
    assert (
        voting.silenced["accomplishment"]
        == "measured at chance: precision 21% [9-43] where 20% of the pairs are good, sql"
    )
    judges, whole = trust.for_config(config, quality=CHANCE)
    shown = {t.judge: t for t in judges}
    assert shown["accomplishment"].short().startswith("does not vote (at chance) · P 21% [9-43]")
    assert shown["grounding"].row()["votes"] == "yes" and shown["efficiency"].row()["votes"] == "no"
    # the committee is grounding alone now, whatever the policy: its figure is grounding's, not the four's
    assert whole is not None and whole.judge == "committee (strict)" and whole.figure == CHANCE.figures[0]

    config.synth.judge_trust = "all"
    assert trust.voting(config, CHANCE).judges == ("accomplishment", "instruction", "efficiency", "grounding")
    four = trust.for_config(config, quality=CHANCE)[1]
    assert four is not None and four.figure == CHANCE.figures[-1]  # the four, as measured


def test_who_votes_follows_the_environment_and_what_was_measured() -> None:
    config = Config()
    config.env.name = "sql"
    config.models.judges.append(JudgeSpec(name="replay", focus="replay"))  # at chance on the set by construction
    config.models.judges.append(JudgeSpec(name="gpt", focus="accomplishment", model="openai/gpt-4o"))  # unmeasured
    assert trust.voting(config, CHANCE).judges == ("grounding", "replay", "gpt")
    config.env.name = "trac"  # the set has no trac: the pooled figure would apply, and there is none here
    assert trust.voting(config, CHANCE).judges == tuple(j.name for j in config.models.judges)
    assert trust.voting(config, None).judges == trust.voting(config, trust.load()).judges  # the shipped file


def test_when_every_judge_is_at_chance_all_vote_and_the_note_says_why() -> None:
    config = Config()
    config.env.name = "sql"
    at_chance = CHANCE.model_copy(
        update={"figures": [_measured("grounding", "sql", 5, 19, 15, 61), *CHANCE.figures[1:]]}
    )
    voting = trust.voting(config, at_chance)
    assert voting.judges == ("accomplishment", "instruction", "efficiency", "grounding") and not voting.silenced
    assert voting.note.startswith("every judge votes: the benchmark found none of them better than chance in 'sql'")
    assert "with a `replay` judge, `grounding` reads the span's real effects: precision 100% [84-100]" in voting.note


def test_the_shipped_figures_leave_the_embedded_models_judges_out_of_the_vote() -> None:
    """What a project on the embedded model gets today: in every environment the benchmark measured the model judges
    at chance, so `grounding` decides (in `repo` grounding alone is at chance too, and everyone votes)."""
    quality = trust.load()
    assert quality is not None and quality.model == LOCAL_MODEL
    for env in ("sql", "trac", "desktop", "browsergym"):
        config = Config()
        config.env.name = env
        assert trust.voting(config, quality).judges == ("grounding",), env
    config.env.name = "repo"
    assert len(trust.voting(config, quality).judges) == 4 and "`replay`" in trust.voting(config, quality).note
    config.models.judges.append(JudgeSpec(name="replay", focus="replay"))
    assert trust.voting(config, quality).judges == ("grounding", "replay")


def test_a_committee_of_grounding_and_replay_is_shown_as_the_benchmarks_rules() -> None:
    """With the embedded model's judges out of the vote, a committee with `replay` is decided by grounding on the
    replay's effects and the replay both saying yes: what the benchmark measures as `rules`."""
    quality = trust.load()
    assert quality is not None
    config = Config()
    config.env.name = "repo"
    config.models.judges.append(JudgeSpec(name="replay", focus="replay"))
    _, whole = trust.for_config(config, policy="strict", quality=quality)
    assert whole is not None and whole.measured_as == "rules" and whole.figure == quality.figure("rules", "repo")
    assert trust.for_config(config, policy="relaxed", quality=quality)[1] is None  # either one: not measured
