"""The loop closed on a tiny random model: trained on kept examples, served through the embedded server's seam
as `local/NAME`, and evaluated on held-out tasks like any model, its evaluation never trained on."""

from __future__ import annotations

from pathlib import Path

import pytest

from lbi.config import Config
from lbi.models import local_llm
from lbi.project import Project
from lbi.store import read
from lbi.train.data import training_data
from lbi.train.sft import train
from lbi.use.evaluate import evaluate, leakage
from tests.train.test_sft import TINY, kept  # noqa: F401 - the fixture


@pytest.mark.local_model
def test_train_serve_and_evaluate_a_tiny_model(
    kept: Project,  # noqa: F811 - the fixture imported above
    tiny_model: Path,
    local_model_config: Config,
) -> None:
    kept.config.local_model = local_model_config.local_model.model_copy()
    kept.config.llm.cache = False
    report = train(kept, "tiny-sft", base_model=str(tiny_model), **TINY)
    assert report.model == "local/tiny-sft" and (kept.dir / "models" / "tiny-sft" / "model.gguf").is_file()
    assert read.train_runs(kept.store)[0]["model"] == "local/tiny-sft"

    kept.store.add_tasks(
        [
            {
                "id": "h1",
                "instruction": "How many items cost more than 2?",
                "env": "sql",
                "split": "heldout",
                "spec_json": {"check": {"kind": "answer", "params": {"expected": "1", "match": "number"}}},
            }
        ]
    )
    kept.config.models.agent = report.model
    result = evaluate(kept, ["baseline"], run="eval-trained", max_steps=2)
    assert result.summaries["baseline"].n == 1
    (row,) = kept.store.query("SELECT model, n_steps, error FROM evaluations")
    assert row["model"] == "local/tiny-sft" and row["n_steps"] >= 1 and row["error"] is None
    assert trained_alias(kept) in local_llm.status(kept.config.local_model).models
    assert leakage(kept)["ok"]
    assert len(training_data(kept).records) == report.records  # the eval trajectory is not training data


def trained_alias(project: Project) -> str:
    from lbi.models.trained import trained_model

    return trained_model(project.dir, "tiny-sft").alias()
