"""lbi.store.lineage: doc chunk → task → trajectory → span → verdicts and overrides → training → flipped tasks, on
a store filled by the real pipeline with two eval runs and the training run between them."""

from lbi.project import Project
from lbi.store import lineage
from tests.pages import fixtures as pages_fixtures

filled_template = pages_fixtures.filled_template
evaluated_template = pages_fixtures.evaluated_template
evaluated = pages_fixtures.evaluated


def test_an_example_a_model_was_trained_on_leads_to_the_tasks_that_flipped(evaluated: Project) -> None:
    store = evaluated.store
    trained_on = store.query("SELECT examples_json FROM train_runs")[0][0]
    example = int(trained_on.strip("[]").split(",")[0])
    info = lineage.lineage(store, example, judges=len(evaluated.config.models.judges))
    assert info is not None and info["task"] is None  # an explore walk: backward construction labelled it
    assert info["trajectory"]["policy"] == "explore"
    (run,) = info["training"]
    assert (run["name"], run["base_model"], run["model"]) == ("sft-1", "fake", "fake/trained")
    flips = {arm["arm"]: arm for arm in run["evaluation"]}
    assert flips["trained:baseline"]["vs"] == "base:baseline"
    assert flips["trained:baseline"]["gained"] == ["shop-cheapest", "shop-priciest", "shop-total"]
    assert flips["trained:agentic"]["gained"] == ["shop-over-2", "shop-priciest", "shop-total"]
    assert all(arm["lost"] == [] and arm["tasks"] == 6 for arm in flips.values())
    rows = {r["stage"]: r["what"] for r in lineage.summary(info)}
    assert "none: an explore rollout" in rows["generated task"]
    assert rows["overrides"].startswith("keep by researcher") and "looks right" in rows["overrides"]
    assert "+shop-total" in rows["evaluation"] and rows["decision"] == "kept"


def test_the_evaluation_is_paired_with_the_base_served_beside_the_trained_model(evaluated: Project) -> None:
    """`lbi train` records its base as it loaded it (`embedded:<gguf>`), and serves that base beside the trained model
    (`local/base-q8_0`): the base arm is the eval run of the served base (here `fake`, the `base` run's model)."""
    store = evaluated.store
    trained_on = store.query("SELECT examples_json FROM train_runs")[0][0]
    example = int(trained_on.strip("[]").split(",")[0])
    for name, base in (("sft-served", "fake"), ("sft-unserved", "")):
        run_id = store.start_run(name, "train", {})
        store.set_train_run(
            run_id,
            base_model="embedded:SmolLM2-135M-Instruct.Q4_1.gguf",
            model="fake/trained",
            examples_json=trained_on,
            config_json={"epochs": 1, "served_base": base} if base else {"epochs": 1},
        )
    info = lineage.lineage(store, example, judges=len(evaluated.config.models.judges))
    assert info is not None
    runs = {run["name"]: run for run in info["training"]}
    assert runs["sft-served"]["served_base"] == "fake" and runs["sft-unserved"]["served_base"] == ""
    served = {arm["arm"]: arm for arm in runs["sft-served"]["evaluation"]}
    assert served["trained:baseline"]["vs"] == "base:baseline"
    assert served["trained:baseline"]["gained"] == ["shop-cheapest", "shop-priciest", "shop-total"]
    assert {arm["vs"] for arm in runs["sft-unserved"]["evaluation"]} == {""}  # no eval of embedded:...: no base arm


def test_an_example_of_a_generated_task_leads_back_to_its_doc_chunk(evaluated: Project) -> None:
    store = evaluated.store
    tid, task_id, chunk_id = store.query(
        "SELECT t.id, t.task_id, k.chunk_id FROM trajectories t JOIN tasks k ON "
        "k.id = t.task_id WHERE k.split = 'synthetic' AND k.chunk_id IS NOT NULL "
        "LIMIT 1"
    )[0]
    (example,) = store.add_examples(
        [{"trajectory_id": tid, "span_start": 0, "span_end": 1, "mode": "per-span", "instruction": "Count the items"}]
    )
    info = lineage.lineage(store, example)
    assert info is not None
    assert info["task"]["id"] == task_id and info["chunk"]["id"] == chunk_id
    assert info["document"]["id"] == info["chunk"]["doc_id"] and info["training"] == []
    stages = [r["stage"] for r in lineage.summary(info)]
    assert stages[:5] == ["document", "doc chunk", "generated task", "trajectory", "span"]
    assert stages[-1] == "training run"
    assert lineage.lineage(store, 10**9) is None
    assert '"steps"' in lineage.as_json(info)
