"""What the committee decided, read from the store: the keep/drop rule, the verdict table, agreement.

Kept/dropped is computed here from verdicts + policy + near-duplicates + human overrides + the leakage check
every time it is asked for, never copied into a column that could drift. The rule is written once (`_PASSES` and
`_decision_sql`); every count, list and table of kept examples goes through it. An example the leakage check
keeps out (`lbi.store.leaks.BLOCKED`: it resembles a held-out task, and no person allowed it) is never kept,
whatever the committee or an override of its verdict says: whether an example is good and whether it may be
used beside the held-out tasks are two decisions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from itertools import combinations
from typing import Any, Literal, get_args

from lbi.errors import check_choice
from lbi.store import leaks
from lbi.store.db import Store
from lbi.store.leaks import BLOCKED

Policy = Literal["strict", "majority", "relaxed"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
HUMAN = "human override"
LATEST_OVERRIDES = (
    "SELECT example_id, verdict FROM overrides "
    "WHERE id IN (SELECT MAX(id) FROM overrides WHERE undone_at IS NULL GROUP BY example_id)"
)
"""The newest human override of each example that was not undone (the one that wins)."""

# When an example with `yes` of `n` verdicts passes a policy; `:judges` is the committee's size, so a
# verdict still missing counts as a no. An example without verdicts passes none (NULL → 0 below).
_PASSES = {
    "strict": "v.yes >= max(v.n, :judges)",
    "majority": "v.yes * 2 > max(v.n, :judges)",
    "relaxed": "v.yes > 0",
}


@cache
def _decision_sql(policies: tuple[str, ...], scoped: bool = False) -> str:
    """One row per example (or, `scoped`, per example of the JSON list `:ids`): yes votes, verdict count, latest
    override, `leaked` (kept out by the leakage check) and, for each policy, `passed`, `duplicate` (a
    near-duplicate of an example the policy keeps) and `kept` — suffixed `_<policy>` when there is more than one
    policy. A leaked example is never kept; otherwise an override always wins, and without one an example is
    kept when it passes and duplicates no kept example. A scoped query reads only the examples of `:ids` and those
    they may duplicate (one example: a millisecond, in a store of any size)."""

    def col(name: str, policy: str) -> str:
        return name if len(policies) == 1 else f"{name}_{policy}"

    passed = ", ".join(f"COALESCE({_PASSES[p]}, 0) AS {col('passed', p)}" for p in policies)
    duplicate = ", ".join(
        f"EXISTS (SELECT 1 FROM similar_examples s JOIN base b2 ON b2.example_id = s.other_id WHERE s.example_id "
        f"= b.example_id AND NOT b2.leaked AND COALESCE(b2.override = 'keep', b2.{col('passed', p)})) "
        f"AS {col('duplicate', p)}"
        for p in policies
    )
    kept = ", ".join(
        f"CASE WHEN leaked THEN 0 WHEN override IS NOT NULL THEN override = 'keep' "
        f"ELSE {col('passed', p)} AND NOT {col('duplicate', p)} END AS {col('kept', p)}"
        for p in policies
    )
    columns = ", ".join(col(name, p) for p in policies for name in ("passed", "duplicate"))
    in_scope = "IN (SELECT id FROM scope)" if scoped else "IS NOT NULL"
    return f"""
WITH scope AS (SELECT value AS id FROM json_each(:ids) UNION
               SELECT s.other_id FROM similar_examples s WHERE s.example_id IN (SELECT value FROM json_each(:ids))),
     v AS (SELECT example_id, SUM(verdict) AS yes, COUNT(*) AS n FROM verdicts
           WHERE example_id {in_scope}
             AND (:only IS NULL OR judge IN (SELECT value FROM json_each(:only))) GROUP BY example_id),
     o AS ({LATEST_OVERRIDES}),
     lk AS (SELECT CAST(item AS INTEGER) AS id FROM ({BLOCKED}) WHERE kind = 'example'),
     base AS (
        SELECT e.id AS example_id, COALESCE(v.yes, 0) AS yes, COALESCE(v.n, 0) AS n, o.verdict AS override,
               e.id IN (SELECT id FROM lk) AS leaked, {passed}
        FROM examples e LEFT JOIN v ON v.example_id = e.id LEFT JOIN o ON o.example_id = e.id
        WHERE e.id {in_scope}),
     flagged AS (SELECT b.*, {duplicate} FROM base b)
SELECT example_id, yes, n, override, leaked, {columns}, {kept}
FROM flagged WHERE {"example_id IN (SELECT value FROM json_each(:ids))" if scoped else "1"}
"""


def check_policy(policy: str) -> Policy:
    """`policy` if it is one of POLICIES, else `UnknownChoiceError` (a UserError and a ValueError) naming them."""
    return check_choice("judge policy", policy, POLICIES)


Judges = int | Sequence[str]
"""The committee a decision counts: its size (every verdict in the store counts; a missing one is a no), or the
names of the judges that vote (`lbi.synth.trust.voting`: only their verdicts count)."""


def size(judges: Judges) -> int:
    """How many judges vote: a missing verdict of one of them counts as a no."""
    return judges if isinstance(judges, int) else len(judges)


def yes_of(decision: dict[str, Any], judges: Judges) -> str:
    """The "yes/of" of an example's decision: the voting judges that said yes, of all that vote (a missing verdict
    counts in the total)."""
    return f"{decision.get('yes', 0)}/{max(decision.get('n', 0), size(judges))}"


def _params(judges: Judges, ids: Sequence[int] | None, only: Sequence[str] | None = None) -> dict[str, Any]:
    voters = list(only) if only else (None if isinstance(judges, int) else list(judges))
    return {
        "judges": len(voters) if voters else (judges if isinstance(judges, int) else 0),
        "ids": None if ids is None else json.dumps(list(ids)),
        "only": json.dumps(voters) if voters else None,
    }


def decisions(
    store: Store,
    policy: str = "strict",
    judges: Judges = 0,
    ids: Sequence[int] | None = None,
    only: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One row per example (or per example of `ids`): yes votes, verdict count, latest override, leaked (kept out
    by the leakage check), passed the policy, duplicate of a kept example, and kept. `judges` is the committee
    (`Judges`: its size, or the judges that vote; a missing verdict counts as no). `only` names the judges whose
    verdicts count instead (an ablation: the committee without one judge)."""
    sql = _decision_sql((check_policy(policy),), ids is not None)
    return [dict(r) for r in store.query(sql, _params(judges, ids, only))]


def decision_sql(policy: str, judges: Judges, ids: Sequence[int] | None = None) -> tuple[str, dict[str, Any]]:
    """The decision query (one row per example, or per example of `ids`: `example_id`, `yes`, `n`, `override`,
    `passed`, `duplicate`, `kept`) and its parameters, to join in a larger query (`FROM (<sql>) d`)."""
    return _decision_sql((check_policy(policy),), ids is not None), _params(judges, ids)


def stamp(store: Store) -> tuple[Any, ...]:
    """A value that changes whenever what the committee decided may have changed (examples, their instructions,
    verdicts, overrides, near-duplicates, leakage flags) or the clustering was redone: a key for caching what is
    read from them."""
    return tuple(
        store.query(
            "SELECT (SELECT COUNT(*) FROM examples), (SELECT MAX(id) FROM examples), (SELECT MAX(id) FROM "
            "example_edits), (SELECT COUNT(*) FROM verdicts), (SELECT MAX(created_at) FROM verdicts), (SELECT MAX(id) "
            "FROM overrides), (SELECT COUNT(undone_at) FROM overrides), (SELECT COUNT(*) FROM similar_examples), "
            f"(SELECT COUNT(*) FROM ({BLOCKED})), (SELECT MAX(id) FROM leak_overrides), "
            "(SELECT COUNT(undone_at) FROM leak_overrides), (SELECT MAX(run_id) FROM clusters)"
        )[0]
    )


def decided_ids(store: Store, policy: str, judges: Judges, *, kept: bool) -> list[int]:
    """The examples the committee keeps (or, with `kept=False`, filters out) under `policy`, by id."""
    sql, params = decision_sql(policy, judges)
    return [
        r[0]
        for r in store.query(
            f"SELECT example_id FROM ({sql}) WHERE kept = :kept ORDER BY example_id", {**params, "kept": int(kept)}
        )
    ]


def kept_count(store: Store, policy: str = "strict", judges: Judges = 0, only: Sequence[str] | None = None) -> int:
    sql = f"SELECT COUNT(*) FROM ({_decision_sql((check_policy(policy),))}) WHERE kept"
    return int(store.query(sql, _params(judges, None, only))[0][0])


def kept_by_policy(store: Store, judges: Judges = 0) -> dict[str, int]:
    """How many examples each policy keeps, in one pass."""
    sums = ", ".join(f"COALESCE(SUM(kept_{p}), 0)" for p in POLICIES)
    row = store.query(f"SELECT {sums} FROM ({_decision_sql(POLICIES)})", _params(judges, None))[0]
    return dict(zip(POLICIES, (int(x) for x in row), strict=True))


def kept_ids(store: Store, policy: str = "strict", judges: Judges = 0, only: Sequence[str] | None = None) -> list[int]:
    return [r["example_id"] for r in decisions(store, policy, judges, only=only) if r["kept"]]


def decision_map(store: Store, policy: str, judges: Judges) -> dict[int, dict[str, Any]]:
    """`decisions` by example id."""
    return {d["example_id"]: d for d in decisions(store, policy, judges)}


# -- the verdict table -------------------------------------------------------------------------
def judge_names(store: Store, configured: Sequence[str] = ()) -> list[str]:
    """Configured judges first, then any other judge that left verdicts in the store."""
    seen = list(configured)
    for row in store.query("SELECT DISTINCT judge FROM verdicts ORDER BY judge"):
        if row["judge"] not in seen:
            seen.append(row["judge"])
    return seen


def verdict_rows(verdicts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """An example's verdicts as table rows: judge, verdict (yes/no), reason."""
    return [{"judge": v["judge"], "verdict": "yes" if v["verdict"] else "no", "reason": v["reason"]} for v in verdicts]


def committee_table(
    store: Store,
    *,
    policy: str = "strict",
    judges: Sequence[str] = (),
    voters: Judges | None = None,
    show: str = "all",
    search: str = "",
    limit: int | None = None,
    ids: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """One row per example: instruction, span, `<judge> verdict` and `<judge> reason` per judge, override, leaked
    (kept out by the leakage check), `leak` (the held-out tasks the leakage check found it resembles, and the
    score; also when a person allowed it since), kept.

    `show`: `all`, `kept`, or `dropped` (the filtered-out audit view); `search`: a substring of the
    instruction; `limit`: the first so many rows (verdicts are read for those only); `ids`: only these examples.
    `judges` are the configured judges (a column each); `voters` those whose verdicts count (default: all of
    `judges`), and `yes` counts their yes votes."""
    names = judge_names(store, judges)
    counted = list(judges) if voters is None else voters
    decided = (
        {d["example_id"]: d for d in decisions(store, policy, counted, ids=ids)}
        if ids is not None
        else decision_map(store, policy, counted)
    )
    matching = None
    if search:
        matching = {
            r[0]
            for r in store.query("SELECT id FROM examples WHERE instr(lower(instruction), lower(?)) > 0", (search,))
        }
    wanted = [
        i
        for i, d in sorted(decided.items())
        if (show == "all" or (show == "kept") == bool(d.get("kept"))) and (matching is None or i in matching)
    ]
    wanted = wanted[:limit]
    verdicts: dict[int, dict[str, dict[str, Any]]] = {}
    for r in store.query(
        "SELECT example_id, judge, verdict, reason FROM verdicts WHERE example_id IN (SELECT value FROM json_each(?))",
        (json.dumps(wanted),),
    ):
        verdicts.setdefault(r["example_id"], {})[r["judge"]] = dict(r)
    flagged = {f["item"]: leaks.resembles(f["hits"]) for f in leaks.flags(store, "example") if f["flagged"]}
    out = []
    for ex in store.query(
        "SELECT id, trajectory_id, span_start, span_end, mode, instruction FROM examples "
        "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
        (json.dumps(wanted),),
    ):
        d = decided.get(ex["id"], {})
        kept = bool(d.get("kept"))
        row: dict[str, Any] = {
            "id": ex["id"],
            "kept": kept,
            "instruction": ex["instruction"],
            "trajectory": ex["trajectory_id"],
            "span": f"{ex['span_start']}–{ex['span_end']}",
            "mode": ex["mode"],
            "yes": f"{d.get('yes', 0)}/{max(d.get('n', 0), size(counted))}",
            "duplicate": bool(d.get("duplicate")),
            "override": d.get("override") or "",
            "leaked": bool(d.get("leaked")),
            "leak": flagged.get(str(ex["id"]), ""),
        }
        for name in names:
            v = verdicts.get(ex["id"], {}).get(name)
            row[f"{name} verdict"] = "" if v is None else ("yes" if v["verdict"] else "no")
            row[f"{name} reason"] = "" if v is None else (v["reason"] or "")
        out.append(row)
    return out


# -- agreement between raters ------------------------------------------------------------------
def kappa_from_counts(n11: int, n10: int, n01: int, n00: int) -> float | None:
    """Cohen's kappa of two binary raters from their 2×2 table (n10: A said 1, B said 0). None when there
    are no items, or when chance agreement is total and the raters nonetheless disagree (undefined)."""
    n = n11 + n10 + n01 + n00
    if n == 0:
        return None
    observed = (n11 + n00) / n
    pa, pb = (n11 + n10) / n, (n11 + n01) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if math.isclose(expected, 1.0):
        return 1.0 if math.isclose(observed, 1.0) else None
    return (observed - expected) / (1 - expected)


_RATINGS_SQL = f"""
SELECT judge AS rater, example_id, verdict AS v FROM verdicts
UNION ALL
SELECT '{HUMAN}', example_id, verdict = 'keep' FROM ({LATEST_OVERRIDES})
"""


def agreement(store: Store, judges: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Pairwise agreement between raters (judges, and `human override`) on the examples both rated:
    items, percent agreement and Cohen's kappa — one pass in SQL (each example's votes side by side)."""
    has_human = bool(store.query("SELECT 1 FROM overrides LIMIT 1"))
    raters = [*judge_names(store, judges), *([HUMAN] if has_human else [])]
    pairs = list(combinations(range(len(raters)), 2))
    if not pairs:
        return []
    columns = ", ".join(f"MAX(CASE WHEN rater = ? THEN v END) AS c{i}" for i in range(len(raters)))
    cells = ", ".join(f"SUM(c{i} = {x} AND c{j} = {y})" for i, j in pairs for x, y in ((1, 1), (1, 0), (0, 1), (0, 0)))
    row = store.query(
        f"WITH r AS ({_RATINGS_SQL}), p AS (SELECT {columns} FROM r GROUP BY example_id) SELECT {cells} FROM p", raters
    )[0]
    rows = []
    for k, (i, j) in enumerate(pairs):
        n11, n10, n01, n00 = (int(x or 0) for x in row[4 * k : 4 * k + 4])
        items = n11 + n10 + n01 + n00
        kappa = kappa_from_counts(n11, n10, n01, n00)
        rows.append(
            {
                "rater A": raters[i],
                "rater B": raters[j],
                "items": items,
                "agreement %": round(100 * (n11 + n00) / items, 1) if items else None,
                "kappa": None if kappa is None else round(kappa, 3),
            }
        )
    return rows


def agreement_matrix(
    rows: Sequence[dict[str, Any]], value: str = "agreement %"
) -> tuple[list[str], list[list[float | None]]]:
    """The symmetric rater × rater matrix of `value` from `agreement()` rows (diagonal: 100 % / kappa 1)."""
    names: list[str] = []
    for r in rows:
        for key in ("rater A", "rater B"):
            if r[key] not in names:
                names.append(r[key])
    index = {n: k for k, n in enumerate(names)}
    diagonal = 100.0 if value == "agreement %" else 1.0
    matrix: list[list[float | None]] = [
        [diagonal if i == j else None for j in range(len(names))] for i in range(len(names))
    ]
    for r in rows:
        i, j = index[r["rater A"]], index[r["rater B"]]
        matrix[i][j] = matrix[j][i] = r[value]
    return names, matrix
