"""An example's verdicts beside how far each judge can be trusted, and its leak flag with a person's decision: the
panels the Committee and Review pages share.

The trust figures are `lbi.synth.trust`'s (the judge benchmark's precision and recall, read from the shipped
`data/judge_bench/quality.json`); the file is read once per change of its modification time, not on every rerun
(the Review page reruns on every key). A leak decision goes through `lbi.ui.leak_panel` (`Store.add_leak_override`,
as `lbi leakage allow/block` records it); the Review page's leak flags queue shows what a flag matched
(`leak_matches`) and decides with its own keys.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import streamlit as st

from lbi import ui
from lbi.project import Project
from lbi.store import leaks
from lbi.store.db import Store
from lbi.synth import trust
from lbi.synth.leakage import RULES


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(path: str, mtime: float) -> trust.QualityFile | None:
    return trust.load(Path(path))


def quality(path: Path | None = None) -> trust.QualityFile | None:
    """The judge benchmark's figures (`trust.load`), read again only when the file changes; None without a file.
    Treat it as read-only: every session shares it."""
    path = path or trust.QUALITY_PATH
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return _load(str(path), mtime)


def judge_trust(
    project: Project, names: Sequence[str], policy: str
) -> tuple[dict[str, trust.Trust], trust.Trust | None]:
    """How far each judge of `names` can be trusted in this project (`trust.for_config`), by judge name, and the
    committee's `policy` when the benchmark measured this committee."""
    trusts, whole = trust.for_config(project.config, names, policy, quality=quality())
    return {t.judge: t for t in trusts}, whole


def verdicts(ex: Mapping[str, Any], trusted: Mapping[str, trust.Trust]) -> None:
    """An example's verdicts (judge, verdict, reason; a placeholder row when none) with each judge's trust."""
    ui.verdict_table(ex["verdicts"], placeholder=True, trust={k: t.short() for k, t in trusted.items()})


def example_verdicts(project: Project, ex: Mapping[str, Any], policy: str) -> None:
    """`verdicts` for the judges that judged `ex` (and the configured ones), with where the figures came from and,
    when measured, how far the committee's `policy` as a whole can be trusted."""
    names = list(dict.fromkeys([*ui.judges(project), *(v["judge"] for v in ex["verdicts"])]))
    trusted, whole = judge_trust(project, names, policy)
    verdicts(ex, trusted)
    measured = quality()
    if measured is None:
        st.caption(f"Trust: no measured figures (`{trust.REGENERATE}` measures the judges on the judge benchmark).")
        return
    st.caption(
        "Trust: each judge's precision and recall (95% intervals, n pairs) on the judge benchmark's labelled pairs, "
        f"from {trust.source(measured)}"
        + (f"; the committee ({ui.escape_md(policy)}) as a whole: {ui.escape_md(whole.short())}" if whole else "")
        + ". The Committee page explains the figures."
    )


def leak_decision(store: Store, ex: Mapping[str, Any], *, note_key: str, flash_key: str) -> None:
    """The example's leak flag, if the leakage check flagged it (or a person decided on it): the held-out task, the
    measure, the score, and Allow / Keep out (`ui.leak_panel`, with the note typed in `note_key`). After a decision
    the note is cleared, `flash_key` says what was recorded, and the page runs again."""
    if not ex["leak"]:
        return
    done = ui.leak_panel(store, "example", ex["id"], ex["leak"], str(st.session_state.get(note_key) or "").strip())
    if done:
        st.session_state.pop(note_key, None)
        st.session_state[flash_key] = f"#{ex['id']} {done} by {ui.who()}."
        st.rerun()


def leak_matches(store: Store, ex: Mapping[str, Any]) -> None:
    """What the example's leak flag matched, for the Review page's leak flags queue: the flag's state (kept out or
    allowed, and the person's decision), then per held-out task it resembles that task's instruction and one row per
    measure — the score beside the threshold it reached (`lbi.synth.leakage.RULES`), the text that resembles it."""
    flag = ex["leak"]
    if not flag:
        st.info("The leakage check does not flag this example (any more), and no person decided on it.")
        return
    ui.leak_flag(flag, hits=False)
    thresholds = {"ngram": RULES.ngram, "embedding": RULES.embedding, "answer": RULES.answer}
    rows = leaks.hit_rows(store, flag["hits"])
    if not rows:
        st.caption("The check did not flag it: a person kept it out.")
        return
    for task in dict.fromkeys(r["held-out task"] for r in rows):
        mine = [r for r in rows if r["held-out task"] == task]
        instruction = mine[0]["its instruction"] or "(no longer in the store)"
        st.markdown(f"Held-out task **{ui.escape_md(task)}**: {ui.escape_md(instruction)}")
        ui.table(
            [
                {
                    "measure": r["measure"],
                    "score": r["score"],
                    "threshold": f"≥ {thresholds[r['measure']]}" if r["measure"] in thresholds else "",
                    "matched text": r["matched text"],
                }
                for r in mine
            ],
            column_config={"matched text": st.column_config.TextColumn(width="large")},
        )
    st.caption(
        f"Measures: ngram — the share of the held-out instruction's word {RULES.n}-grams in this example; "
        "embedding — cosine similarity of the instructions; answer — a held-out answer stated near its question's "
        "words; seed — the example ran on a held-out (task, seed). Allow (A) lets it be trained on if the committee "
        "keeps it; Keep out (O) keeps it out whatever the committee says."
    )
