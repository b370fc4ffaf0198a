"""The judge benchmark's metrics: a judge's confusion counts on labelled pairs ("yes" = kept), precision, recall and
accuracy with Wilson 95% intervals, and the figure `data/judge_bench/quality.json` keeps (`lbi.synth.trust.Figure`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lbi.synth import trust
from lbi.use.evaluate import wilson

GOAL_PRECISION, GOAL_RECALL = 0.90, 0.70
"""Issue 26's goal for the judges that need no model, in every environment."""


@dataclass(frozen=True)
class Quality:
    """A judge's confusion counts on labelled pairs ("yes" = kept) and what follows from them."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def accuracy(self) -> float:
        return (self.tp + self.tn) / self.n if self.n else float("nan")

    def intervals(self) -> dict[str, tuple[float, float]]:
        """Wilson 95% intervals of precision, recall and accuracy."""
        return {
            "precision": wilson(self.tp, self.tp + self.fp),
            "recall": wilson(self.tp, self.tp + self.fn),
            "accuracy": wilson(self.tp + self.tn, self.n),
        }

    def meets(self, precision: float = GOAL_PRECISION, recall: float = GOAL_RECALL) -> bool:
        return self.precision >= precision and self.recall >= recall

    def row(self) -> dict[str, Any]:
        ci = self.intervals()

        def show(value: float, bounds: tuple[float, float]) -> str:
            if value != value:
                return "-"
            return f"{value:.0%} [{bounds[0]:.0%}-{bounds[1]:.0%}]"

        return {
            "n": self.n,
            "precision": show(self.precision, ci["precision"]),
            "recall": show(self.recall, ci["recall"]),
            "accuracy": show(self.accuracy, ci["accuracy"]),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


def figure(judge: str, env: str, split: str, q: Quality, left_out: int, envs: Sequence[str]) -> trust.Figure:
    """A judge's figures as `data/judge_bench/quality.json` keeps them (None for an undefined rate)."""
    ci = q.intervals()

    def rate(value: float) -> float | None:
        return None if value != value else round(value, 4)

    def bounds(name: str, value: float) -> tuple[float, float] | None:
        return None if value != value else (round(ci[name][0], 4), round(ci[name][1], 4))

    return trust.Figure(
        judge=judge,
        env=env,
        split=split,
        n=q.n,
        tp=q.tp,
        fp=q.fp,
        fn=q.fn,
        tn=q.tn,
        left_out=left_out,
        precision=rate(q.precision),
        recall=rate(q.recall),
        accuracy=rate(q.accuracy),
        precision_ci=bounds("precision", q.precision),
        recall_ci=bounds("recall", q.recall),
        accuracy_ci=bounds("accuracy", q.accuracy),
        envs=list(envs),
    )


def quality(labels: Iterable[bool], verdicts: Iterable[bool | None]) -> tuple[Quality, int]:
    """Confusion counts of `verdicts` against `labels`; a verdict of None (the judge could not decide, e.g. a span
    that cannot be replayed) is left out and counted apart, never as a pass. Returns (quality, left out)."""
    tp = fp = fn = tn = out = 0
    for label, verdict in zip(labels, verdicts, strict=True):
        if verdict is None:
            out += 1
        elif verdict and label:
            tp += 1
        elif verdict:
            fp += 1
        elif label:
            fn += 1
        else:
            tn += 1
    return Quality(tp, fp, fn, tn), out
