"""A judge that needs no model: is an instruction grounded in what its span did?

Small models label spans with text they copy from the page ("Trac is a minimalistic approach to web-based
management of software projects…" for a span that clicked the Wiki link), or with an instruction that shares a
word with the span and asks for something else. `judge` reads what the span did (`lbi.synth.effects`): what it
acted on, what it changed (rows, saved cells, the diff, a form sent), the URL it reached, the answer it gave,
the lines it made appear — and keeps an instruction only when

* it does not repeat a run of page text the span did not type (copying);
* the values it gives — numbers, quoted strings, cell addresses, names written in capitals, identifiers — are
  things the span acted on or changed (a question may also name what the span read);
* most of its other words name what the span acted on, changed or made appear (`Rules.coverage`), names matched
  as a person would (plurals, case, quoting, CamelCase, a few words for query terms: "how many" is COUNT);
* a change it asks for is a change the span made, and a question it asks is answered (an answer the span gave
  that a page it saw shows, or the rows of the query it ended with);
* for a fix described as a bug report (the span edited code), the functions it names are those the diff
  changes (or those most of the tests it makes pass are named for), when the span's diff is known;
* what each environment shows agrees with what is asked (`query`, `sheet`, `web`): the words that pick a query's
  rows are in it, one thing asked is one row, a state asked for shows in the changed rows, a count answered is
  the count the page states; a formula showing an error is no change, cells outside a named range are too many;
  the element acted on is of the kind named ("the link", "the 2nd textbox", the "x" that closes a dialog);
* a SQL span is read against its database's schema (`schema`): the database's name is the medium ("the library"
  is `library.db`), a table the rows read refer to by a key (`dept_id` too) is what they hold unless the question
  counts or returns it, "who" and "which" are answered by a name-like column, "not yet" and "never" by a NULL
  test or a NOT, an inserted row's values in columns the instruction does not name are the agent's to fill, an
  empty result answers "which ...?" unless a value the agent chose emptied it, "how many" is answered by a
  number, and "which members" by what they are called when their table has a name.

`overlap_judge` is the rule this one replaced (one shared word was enough), kept for the judge benchmark
(`bench/judge_quality.py`). Deterministic: its verdicts cost nothing and mean the same thing on every run.

The package: `vocabulary` (the words it reads with), `names` (what an instruction asks and names), `copying` (page
text copied; the old rule), `answers` (a question's answer on a page), `query` (SQL reads), `schema` (a database's
tables and keys), `sheet` (cells), `web` (page elements), `code` (a fix and its tests), `rules` (the verdict and its
settings), `verdict` (`judge`).
"""

from lbi.synth.grounding.copying import acted_on, overlap_judge, words
from lbi.synth.grounding.names import asks_change, asks_question, content_words, identifiers, specifics
from lbi.synth.grounding.rules import DEFAULT_RULES, Grounding, Rules
from lbi.synth.grounding.verdict import judge

__all__ = [
    "DEFAULT_RULES",
    "Grounding",
    "Rules",
    "acted_on",
    "asks_change",
    "asks_question",
    "content_words",
    "identifiers",
    "judge",
    "overlap_judge",
    "specifics",
    "words",
]
