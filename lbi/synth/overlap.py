"""Text overlap between synthesized material and held-out tasks: the measures of the leakage check.

All three compare *normalised* tokens: NFKC, case-folded, words of letters and digits (kept whole across an
inner `.`, `-`, `@`, `/` or `:`, so `1.6`, `2025-03-03` and `carol@example.org` are one token each), and, for
content words, a plural `s` dropped (`tickets` = `ticket`).

* :func:`containment` — the share of a held-out instruction's word n-grams found in a text (3-grams; shorter
  instructions use what they have). 1.0: the held-out question is in the text word for word.
* :func:`answer_in_context` — a held-out answer stated where its question is: the answer's tokens occur in a
  row in the text, and within `window` tokens either side of them stand at least `share` of the question's
  content words (its words less stopwords and the answer's own). `frontend (bob)` under "owner is the default
  owner of new tickets of the component" states sql-003's answer; a bare `bob` in a list of users does not.
* embedding similarity is the cosine of `lbi.models.embed` vectors (computed by `lbi.synth.leakage`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

TOKEN = re.compile(r"[^\W_]+(?:[.\-@/:][^\W_]+)*")
STOPWORDS = frozenset(
    """
a an the of to in on at for by with from into onto as and or but nor not no yes is are was were be been being
it its it's this that these those there their them they he she his her we our you your i me my do does did
done have has had which who whom whose what when where why how many much each every all any some one ones
give list show tell find please than then so if also only just more most can could should would will shall
may might must same other another after before about per via own
""".split()
)
"""Words that carry no content of a question: left out of `answer_in_context`'s question words."""


def tokens(text: str) -> list[str]:
    """The normalised word tokens of `text`."""
    return TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def stem(token: str) -> str:
    """A token with a plural `s` dropped (`tickets` → `ticket`, not `status` or `class`)."""
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


@lru_cache(maxsize=8192)
def content_words(text: str, leave_out: tuple[str, ...] = ()) -> frozenset[str]:
    """The stems of `text`'s words that are not stopwords nor among `leave_out` (tokens)."""
    drop = {stem(t) for t in leave_out}
    return frozenset(s for s in (stem(t) for t in tokens(text)) if _is_content(s) and s not in drop)


def _is_content(token: str) -> bool:
    return (token not in STOPWORDS and len(token) > 1) or token.isdigit()


def ngrams(words: Sequence[str], n: int) -> set[tuple[str, ...]]:
    n = max(1, min(n, len(words)))
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


@lru_cache(maxsize=8192)
def _heldout_grams(text: str, n: int) -> tuple[int, frozenset[tuple[str, ...]]]:
    words = tokens(text)
    n = min(n, len(words))
    return n, frozenset(ngrams(words, n)) if words else frozenset()


def containment(
    heldout: str,
    text: str,
    n: int = 3,
    *,
    text_tokens: Sequence[str] | None = None,
    grams: dict[int, set[tuple[str, ...]]] | None = None,
) -> float:
    """The share of `heldout`'s word n-grams that occur in `text` (0 when `heldout` has no words).
    `text_tokens` (`tokens(text)`) and `grams` (a dict this fills with the text's n-grams by n): `text` read once
    for many held-out instructions."""
    n, want = _heldout_grams(heldout, n)
    if not want:
        return 0.0
    if grams is None or n not in grams:
        have = ngrams(list(text_tokens) if text_tokens is not None else tokens(text), n)
        if grams is not None:
            grams[n] = have
    else:
        have = grams[n]
    return len(want & have) / len(want)


def positions(words: Sequence[str]) -> dict[str, list[int]]:
    """Where each token occurs in `words` (for many `answer_in_context` calls on one text)."""
    out: dict[str, list[int]] = {}
    for i, token in enumerate(words):
        out.setdefault(token, []).append(i)
    return out


def answer_in_context(
    question: str,
    answer: str,
    text: str,
    *,
    window: int = 12,
    text_tokens: Sequence[str] | None = None,
    where: dict[str, list[int]] | None = None,
) -> tuple[float, str]:
    """(score, excerpt): the largest share of `question`'s content words found within `window` tokens of an
    occurrence of `answer` in `text`, and the tokens around that occurrence. (0.0, "") when the answer does not
    occur, or the question has no content words beside the answer's. `text_tokens` and `where` (its
    `positions`): `text` read once for many questions."""
    want = tokens(answer)
    words = list(text_tokens) if text_tokens is not None else tokens(text)
    question_words = content_words(question, tuple(want))
    if not want or not question_words:
        return 0.0, ""
    best, excerpt, m = 0.0, "", len(want)
    starts = (where if where is not None else positions(words)).get(want[0], [])
    for i in starts:
        if words[i : i + m] != want:
            continue
        near = words[max(0, i - window) : i + m + window]
        share = len(question_words & {stem(t) for t in near}) / len(question_words)
        if share > best:
            best, excerpt = share, " ".join(near)
    return best, excerpt
