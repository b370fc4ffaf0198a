"""Task generation, backward construction and the committee on the fake model, against a real store."""

import json
from collections.abc import Container

import pytest

from lbi.docs.ingest import add_source
from lbi.models.fake import FakeModel
from lbi.project import Project
from lbi.store import committee
from lbi.synth.backward import construct, eligible_spans
from lbi.synth.generate import generate_tasks
from lbi.synth.judge import judge_examples
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "docs"


def _trajectory(project: Project, key: str, n: int, errors: Container[int] = frozenset()) -> int:
    tid, _ = project.store.begin_trajectory(key, policy="explore", env="web")
    for i in range(n):
        project.store.add_step(
            tid,
            i,
            observation=f"page {i} of the {key} walk",
            action=f"click('{i}')",
            url=f"http://127.0.0.1/p{i}",
            error="no such element" if i in errors else None,
        )
    project.store.finish_trajectory(tid, status="done")
    return tid


def test_docs_become_chunks_then_tasks(project: Project) -> None:
    report = add_source(project, FIXTURES)
    assert report.documents >= 5 and report.chunks >= report.documents
    again = add_source(project, FIXTURES)
    assert again.documents == 0 and again.unchanged == report.documents
    gen = generate_tasks(project, per_chunk=3)
    chunks = project.store.counts()["chunks"]
    assert gen.chunks == chunks
    assert gen.added > 0 and gen.added + gen.duplicates == gen.proposed
    rows = project.store.query("SELECT chunk_id, split, env FROM tasks")
    assert all(r["chunk_id"] and r["split"] == "synthetic" and r["env"] == "trac" for r in rows)
    # resuming: every chunk has tasks now, so nothing is generated again
    assert generate_tasks(project).chunks == 0
    calls = project.store.query("SELECT COUNT(*) FROM llm_calls WHERE purpose = 'generate_tasks'")[0][0]
    assert calls == chunks


def test_near_duplicate_instructions_are_removed(project: Project) -> None:
    add_source(project, FIXTURES / "notes.txt")
    FakeModel.enqueue(
        json.dumps(
            {
                "instructions": [
                    "Create a new ticket in component1 with priority major",
                    "Create a ticket in component1 with major priority",
                    "Show the roadmap of milestone2",
                    "x",
                ]
            }
        )
    )
    gen = generate_tasks(project, per_chunk=4)
    texts = sorted(r[0] for r in project.store.query("SELECT instruction FROM tasks"))
    assert texts == ["Create a new ticket in component1 with priority major", "Show the roadmap of milestone2"]
    assert gen.duplicates == 1


def test_malformed_generation_is_recorded_and_the_run_goes_on(project: Project) -> None:
    add_source(project, FIXTURES / "notes.txt")
    add_source(project, FIXTURES / "guide.md")
    FakeModel.enqueue("garbage", "more garbage", "still garbage")  # the first chunk fails 3 times
    gen = generate_tasks(project)
    assert gen.failed == 1 and gen.added > 0
    failure = project.store.query("SELECT stage, raw FROM failures")[0]
    assert failure["stage"] == "generate" and failure["raw"] == "still garbage"


def test_eligible_spans_skip_all_failed_spans_and_respect_the_cap() -> None:
    steps: list[dict[str, str | None]] = [{"error": None}, {"error": "x"}, {"error": None}]
    assert eligible_spans(steps) == [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2)]
    assert eligible_spans(steps, max_span=2) == [(0, 0), (0, 1), (1, 2), (2, 2)]


@pytest.mark.parametrize(("n", "batch", "calls"), [(1, 36, 1), (4, 36, 1), (6, 36, 1), (6, 8, 3), (6, 0, 1)])
def test_per_span_makes_one_call_per_span_and_batched_one_per_batch(
    project: Project, n: int, batch: int, calls: int
) -> None:
    tid = _trajectory(project, f"t{n}", n)
    per = construct(project, [tid], mode="per-span")
    assert per.calls == per.examples == n * (n + 1) // 2
    project.config.synth.batch_spans = batch
    batched = construct(project, [tid], mode="batched")
    assert batched.calls == calls  # 6 steps = 21 spans: 8 + 8 + 5
    assert batched.examples + batched.failed == n * (n + 1) // 2
    modes = {r[0]: r[1] for r in project.store.query("SELECT mode, COUNT(*) FROM examples GROUP BY mode")}
    assert modes["per-span"] == n * (n + 1) // 2


def test_backward_resumes_without_duplicates(project: Project) -> None:
    tid = _trajectory(project, "r", 4, errors={3})
    FakeModel.enqueue("broken", "broken", "broken")  # first span fails for good
    first = construct(project, [tid], mode="per-span")
    assert first.failed == 1 and first.examples == first.spans - 1 == 8
    second = construct(project, [tid], mode="per-span")
    assert second.calls == 1 and second.examples == 1
    assert construct(project, [tid], mode="per-span").calls == 0
    assert project.store.counts()["examples"] == 9


def test_batched_reply_with_empty_or_missing_spans_is_recorded(project: Project) -> None:
    tid = _trajectory(project, "b", 3)
    project.config.synth.batch_spans = 3  # spans (0,0) (0,1) (0,2) | (1,1) (1,2) (2,2)
    FakeModel.enqueue(json.dumps({"task_0_0": "open page zero", "task_0_1": "", "task_0_2": " "}))
    partial = json.dumps({"task_1_1": "only one of three"})  # the other two missing: the schema requires them
    FakeModel.enqueue(partial, partial, partial, partial)
    report = construct(project, [tid], mode="batched")
    first = project.store.query("SELECT error FROM failures WHERE item = ?", (f"{tid}:0-0..0-2",))[0]
    assert "['0..1', '0..2']" in first["error"]  # two spans of the first call came back empty
    second = project.store.query("SELECT error, raw FROM failures WHERE item = ?", (f"{tid}:1-1..2-2",))[0]
    assert second["raw"] == partial  # the second call never matched its schema: kept with the raw reply,
    assert "kept the 1 of 3 fields" in second["error"]  # and the one field it did complete is an example
    third = project.store.query("SELECT error, raw FROM failures WHERE item = ?", (f"{tid}:1-2..2-2",))[0]
    assert third["raw"] == partial  # the two spans asked again got nothing usable, three times: recorded
    assert "after 3 attempts" in third["error"]
    assert report.calls == 5 and report.examples == 2  # (0, 0) and (1, 1)
    assert report.failed == 2 + 2


def test_committee_policies_and_overrides(project: Project) -> None:
    project.config.models.judges = [j for j in project.config.models.judges if j.focus != "grounding"]  # scripted
    tid = _trajectory(project, "c", 3)
    construct(project, [tid], mode="per-span")
    votes = iter(
        [
            True,
            True,
            True,
            True,
            False,
            True,
            False,
            False,
            False,
            True,
            True,
            True,
            True,
            True,
            False,
            False,
            False,
            True,
        ]
    )

    def judge(messages, schema):
        return json.dumps({"reason": "because", "verdict": next(votes)})

    FakeModel.register_responder("judge-accomplishment", judge)
    FakeModel.register_responder("judge-instruction", judge)
    FakeModel.register_responder("judge-efficiency", judge)
    report = judge_examples(project)
    assert report.examples == 6 and report.verdicts == 18
    kept = {p: committee.kept_count(project.store, p, 3) for p in committee.POLICIES}
    assert kept["strict"] <= kept["majority"] <= kept["relaxed"]
    assert (kept["strict"], kept["majority"], kept["relaxed"]) == (2, 4, 5)
    # judging again asks nobody: every (example, judge) pair has a verdict
    assert judge_examples(project).verdicts == 0
    dropped = [d["example_id"] for d in committee.decisions(project.store, "strict", 3) if not d["kept"]]
    project.store.add_override(dropped[0], "keep", who="tester", note="looks right to me")
    assert committee.kept_count(project.store, "strict", 3) == 3


def test_placeholder_instructions_are_rejected_and_recorded(project: Project) -> None:
    from lbi.synth.backward import plausible

    assert not plausible("...") and not plausible("[1] [2] [3]") and not plausible("LBI Demo")
    assert plausible("Open the roadmap page")
    assert not plausible("Step 12: Step 13: Step 14: Step") and not plausible("steps 0..3 span 2")
    assert plausible("Open step 3 of the install guide")
    tid = _trajectory(project, "p", 1)
    FakeModel.enqueue(json.dumps({"instruction": "..."}))
    report = construct(project, [tid], mode="per-span")
    assert (report.examples, report.failed) == (0, 1)
    assert project.store.query("SELECT raw FROM failures")[0][0] == "..."


def test_duplicates_embed_only_new_or_edited_examples(project: Project) -> None:
    from lbi.synth.judge import find_duplicates

    tid = _trajectory(project, "d", 3)
    a, b, c = project.store.add_examples(
        [
            {"trajectory_id": tid, "span_start": 0, "span_end": 0, "instruction": "Open the roadmap page", "mode": "m"},
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 1,
                "instruction": "open  the Roadmap page",
                "mode": "m",
            },
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 2,
                "instruction": "Delete wiki page Sandbox",
                "mode": "m",
            },
        ]
    )
    assert find_duplicates(project) == 1
    assert [tuple(r) for r in project.store.query("SELECT example_id, other_id FROM similar_examples")] == [(b, a)]
    assert find_duplicates(project) == 0  # nothing new: nothing embedded or compared again
    assert project.store.counts()["example_vectors"] == 3
    project.store.edit_example(c, "Open the roadmap page", who="t")  # now a duplicate of a and b
    assert find_duplicates(project) == 2
    pairs = {tuple(r) for r in project.store.query("SELECT example_id, other_id FROM similar_examples")}
    assert pairs == {(b, a), (c, a), (c, b)}
    project.store.edit_example(b, "Create a ticket for the printer", who="t")  # no longer a duplicate
    find_duplicates(project)
    pairs = {tuple(r) for r in project.store.query("SELECT example_id, other_id FROM similar_examples")}
    assert pairs == {(c, a)}


def test_sentence_pattern_sent_to_the_model_rejects_placeholders_and_compiles_to_a_flat_grammar() -> None:
    import re

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    from lbi.prompts.replies import MAX_WORDS, SENTENCE, batch_schema

    for text in ["Open the Wiki page", "Set ticket #7's priority to major."]:
        assert re.match(SENTENCE, text)
    for text in ["...", "[1] [2]", "two words", 'say "hi" now', " ".join(["word"] * (MAX_WORDS + 1))]:
        assert not re.match(SENTENCE, text)
    schema = batch_schema([(i, j) for i in range(8) for j in range(i, 8)])
    grammar = json_schema_to_gbnf(json.dumps(schema.model_json_schema()))
    assert grammar.count("task-0-7") >= 2

    def depth(line: str) -> int:
        level = deepest = 0
        for char in line.split("::=", 1)[-1].replace('"("', "").replace('")"', ""):
            level += {"(": 1, ")": -1}.get(char, 0)
            deepest = max(deepest, level)
        return deepest

    assert max(depth(line) for line in grammar.splitlines()) <= 2  # flat: nested optionals crash the server
    assert schema.model_validate({f"task_{i}_{j}": 'Open "x"' for i in range(8) for j in range(i, 8)})


def test_a_batch_too_long_for_the_context_window_is_split_until_it_fits(project: Project) -> None:
    tid = _trajectory(project, "ctx", 4)  # 10 spans, one batch

    def small_context(messages, schema):
        fields = list(schema["properties"])
        if len(fields) > 2:
            return "litellm.ContextWindowExceededError"  # litellm raises it, as a real provider's reply would
        return json.dumps({name: f"Open the page named {name}" for name in fields})

    FakeModel.register_responder("backward-batched", small_context)
    report = construct(project, [tid], mode="batched")
    assert report.examples == 10 and report.failed == 0
    assert report.calls == 11  # 10 → 5 + 5, 5 → 2 + 3, 3 → 1 + 2
    FakeModel.register_responder("backward-per-span", lambda messages, schema: "litellm.ContextWindowExceededError")
    per = construct(project, [tid], mode="per-span")
    assert per.failed == 10 and per.examples == 0  # recorded, not raised
    errors = project.store.query("SELECT error FROM failures WHERE stage = 'backward'")
    assert len(errors) == 10 and all("context window" in e[0] for e in errors)


def test_batches_are_packed_to_the_context_window_up_front(project: Project) -> None:
    """With a known window, no call is sent that would not fit: each group holds as many spans as fit."""
    from lbi.synth.backward import pack

    assert pack([(0, 0), (0, 1), (1, 1)], 2) == [[(0, 0), (0, 1)], [(1, 1)]]
    assert pack([(0, 0), (0, 1), (1, 1)], 0, fits=lambda g: len(g) == 1) == [[(0, 0)], [(0, 1)], [(1, 1)]]
    tid = _trajectory(project, "win", 6)  # 21 spans
    project.config.llm.context_window = window = 700
    project.config.llm.max_tokens = 64
    llm = project.llm()
    sent = []

    def server(messages, schema):  # refuses what does not fit, as llama.cpp or a provider would
        fields = list(schema["properties"])
        budget = max(64, 40 * len(fields) + 64)
        if llm.count_tokens(messages, role="backward") + budget > window:
            return "litellm.ContextWindowExceededError"
        sent.append(fields)
        return json.dumps({name: f"Open the page named {name}" for name in fields})

    FakeModel.register_responder("backward-batched", server)
    report = construct(project, [tid], mode="batched")
    assert report.examples == 21 and report.failed == 0
    assert report.calls == len(sent) > 1  # no call was refused and split afterwards
    assert sum(len(f) for f in sent) == 21 and max(len(f) for f in sent) > 1
    from lbi.synth.backward import _batch_call, _Context, trajectory_steps

    steps = trajectory_steps(project, tid)
    ctx = _Context(project, llm, frozenset(), None, window)
    spans = sorted(eligible_spans(steps))
    cut = 0
    for fields in sent[:-1]:  # each group is as large as fits: one more span would not have
        cut += len(fields)
        call = _batch_call(ctx, steps, spans[cut - len(fields) : cut + 1])
        assert llm.count_tokens(call["messages"], role="backward", schema=call["schema"]) + call["max_tokens"] > window


def test_a_cut_off_batched_reply_keeps_its_finished_fields_and_labels_the_rest_again(project: Project) -> None:
    tid = _trajectory(project, "cut", 3)  # 6 spans
    calls = []

    def cut_off(messages, schema):
        fields = list(schema["properties"])
        calls.append(fields)
        text = json.dumps({name: f"Open the page named {name}" for name in fields})
        return text[: len(text) // 2] if len(calls) == 1 else text  # the first reply hits its token limit

    FakeModel.register_responder("backward-batched", cut_off)
    report = construct(project, [tid], mode="batched")
    assert report.examples == 6 and report.failed == 0
    assert report.calls == 2 and project.store.counts()["llm_calls"] == 2  # no re-ask of the whole reply
    assert 0 < len(calls[1]) < 6 and not set(calls[1]) & set(calls[0][: 6 - len(calls[1])])
    error = project.store.query("SELECT error FROM failures WHERE stage = 'backward'")[0][0]
    assert f"after 1 attempt; kept the {6 - len(calls[1])} of 6 fields it completed" in error
    rows = project.store.query("SELECT span_start, span_end, instruction FROM examples ORDER BY span_start, span_end")
    assert all(r[2] == f"Open the page named task_{r[0]}_{r[1]}" for r in rows)
