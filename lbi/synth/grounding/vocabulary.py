"""The words the grounding judge reads an instruction with: function words, the generic words that name the medium
or the act (never required to be acted on), imperative and change verbs, the patterns of a question, a change and
a bug report, and the query terms a word stands for ("how many" is COUNT)."""

from __future__ import annotations

import re

COPY_RUN = 6
"""Consecutive instruction words found in the span's page text (and not typed by it) that count as copying."""
STOPWORDS = frozenset(
    """
a an and are as at be by for from has have in into is it its of on or the that this to with was were will
all any each every some one two new its their them then than via per not no yes out over under about after
before page pages click clicked link button field text open opened show shows go goes went select selected
task user agent step steps want wants please make sure use using find list see view
""".split()
)
"""The old rule's stop words (`overlap_judge`)."""
FUNCTION_WORDS = frozenset(
    """
a an and are as at be been being by can could do does did for from had has have how i if in into is it its me
my of on or our shall should so than that the their them then there these they this those to too us was we
were what when where which while who whom whose why will with would you your all any each every some both
either neither other another such only own same just also again still already ever very more most less least
much many few per via up down out off over under about after before between through during without within
along across against among around behind below above beyond near onto upon whatever whichever however
please want wants need needs let lets whether yes no not nor but
""".split()
)
GENERIC = frozenset(
    """
give tell find show list display get look answer return use using please sure task user agent step steps id ids
row rows column columns cell cells sheet sheets header headers keep keeping kept together
spreadsheet spreadsheets workbook document window application app browser website site database repository file
appear appears contain contains include includes existing current whole new following page pages
""".split()
)
"""Words an instruction uses to say what to do, or that name the medium it is done in (the spreadsheet, the
database), not what to do it on: never required to be acted on."""
IMPERATIVES = frozenset(
    """
create add put write type enter fill set change update edit modify rename delete remove close reopen resolve accept
assign reassign comment attach save make compute calculate open go navigate view search move switch select choose
pick click press mark leave keep sort fix replace append total sum run report focus
""".split()
)
"""Verbs that say what to do when they lead a clause ("Close ticket #5"); elsewhere they may name a value
("How many tickets are closed?") and count."""
CHANGE_VERBS = frozenset(
    """
create add insert put write fill set change update edit modify rename delete remove close reopen resolve accept
assign reassign attach save fix replace mark bold type enter append total sum compute calculate sort
""".split()
)
NEGATION = re.compile(r"\b(?:not|no|never|isn't|aren't|doesn't|don't|hasn't|haven't)\b", re.I)
NEGATED = re.compile(r"!=|<>|\bNOT\b|\bIS\s+NULL\b|=!|\bEXCEPT\b|\bnone\b", re.I)
"""A query (SQL, a query URL) that negates: what an instruction saying "not" asks of it."""
ASKED = re.compile(
    r"\b(?:list|give|return)\s+(?:the\s+|its\s+|their\s+)?([A-Za-z]+(?:\s+[A-Za-z]+)?)|"
    r"\bwhich\s+([A-Za-z]+(?:\s+[A-Za-z]+)?)",
    re.I,
)
"""What a question asks to be returned: "list the ids", "give the distinct authors", "which tickets"."""
KEY_COLUMNS = frozenset({"id", "name", "title", "key", "value", "rowid"})
"""Columns that name a row or hold a key's value: what a question about "which" rows is answered with."""
NAVIGATION_START = re.compile(r"^\s*(?:open|show|go|navigate|view|display|visit|bring up|take me)\b", re.I)
QUESTION_START = re.compile(
    r"^\s*(?:what|which|who|whom|whose|when|where|why|how|is|are|does|do|did|can|list|"
    r"give|name|count|tell|according)\b",
    re.I,
)
CHANGE_START = re.compile(r"^\s*(?:\w+\s+){0,6}?(?:" + "|".join(sorted(CHANGE_VERBS)) + r")\b", re.I)
BUG_REPORT = re.compile(
    r"\b(?:should|must|instead of|but|wrong|backwards|raises|is accepted|does nothing|loses|"
    r"ignores|keeps|carries)\b",
    re.I,
)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "many": ("count",),
    "number": ("count",),
    "count": ("count", "match", "result"),
    "total": ("sum", "count"),
    "average": ("avg",),
    "mean": ("avg",),
    "highest": ("max", "desc", "descend"),
    "maximum": ("max",),
    "most": ("max", "desc"),
    "largest": ("max", "desc"),
    "greatest": ("max", "desc"),
    "lowest": ("min", "asc", "ascend"),
    "minimum": ("min",),
    "smallest": ("min", "asc"),
    "fewest": ("min", "asc"),
    "earliest": ("min", "asc", "order"),
    "oldest": ("min", "asc", "order"),
    "latest": ("max", "desc"),
    "last": ("max", "desc", "latest"),
    "newest": ("max", "desc"),
    "recently": ("desc", "max"),
    "recent": ("desc", "max"),
    "distinct": ("distinct",),
    "different": ("distinct",),
    "unique": ("distinct",),
    "sorted": ("order", "sort"),
    "sort": ("order", "sort"),
    "order": ("order", "sort"),
    "ascending": ("asc", "ascend"),
    "descending": ("desc", "descend"),
    "alphabetically": ("asc", "ascend", "sort"),
    "percentage": ("100",),
    "percent": ("100",),
    "formula": ("=",),
    "bold": ("ctrl+b", "bold"),
    "longest": ("max", "desc"),
    "shortest": ("min", "asc"),
    "date": ("due", "date", "time"),
    "open": ("closed",),
    "still": (),
    "never": ("not", "null", "except"),
    "yet": ("null", "not"),
    "missing": ("null", "not"),
    "active": ("closed",),
}
NUMBER_WORDS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
IDENT = re.compile(r"`([^`]+)`|\b([A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+|[A-Za-z_]\w*_\w+|[A-Za-z_]\w*(?=\())")
CAPITAL = re.compile(r"(?<![\w'])([A-Z][A-Za-z0-9]*(?:[- ][A-Z][A-Za-z0-9]*)*)")
CELL_REF = re.compile(r"(?<![A-Za-z0-9_])([A-Z]{1,3}[1-9]\d{0,5})(?![A-Za-z0-9_])")
