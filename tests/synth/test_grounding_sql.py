"""The grounding judge reads a SQL span as a person would, on any SQLite database: the database's name is the
medium, a table's keys name what its rows hold, "who" is answered by a name, a NULL test says "not yet" and
"never", an inserted row's other values are the agent's to fill, an empty result answers "which ...?", a "how
many" is answered by a number, "which patients" by what they are called (issue 26: the held-out library set).

The database here (a clinic) is none the judge was tuned on; each case has a mismatched pair the reading must still
refuse."""

from __future__ import annotations

from typing import Any

from lbi.synth.effects import read_effects
from lbi.synth.grounding import judge

BANNER = (
    "Connected to SQLite database clinic.db (read-only).\n\nTables:\n"
    "  departments(dept_id, dept_name, floor)\n"
    "  doctors(doctor_id, full_name, specialty, dept_id)\n"
    "  invoices(invoice_id, visit_id, amount_cents, sent_on, paid_on)\n"
    "  notes(note_id, visit_id, author, body)\n"
    "  patients(patient_id, name, phone, plan, registered)\n"
    "  visits(visit_id, patient_id, doctor_id, held_on)"
)


def _sql(query: str, result: str, answer: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A span that ran `query` on the clinic database (and answered `answer`), and the page it ended on."""
    steps = [{"action": f"execute_sql({query!r})", "observation": BANNER}]
    if answer is not None:
        steps.append({"action": f"stop({answer!r})", "observation": result})
    return steps, {"observation": result, "answer": answer}


def _verdict(instruction: str, query: str, result: str, answer: str | None = None) -> tuple[bool, str]:
    steps, after = _sql(query, result, answer)
    got = judge(instruction, steps, after=after)
    return got.verdict, got.reason


def test_the_databases_name_is_the_medium_not_a_thing_left_alone() -> None:
    assert _verdict("How many patients does the clinic have?", "SELECT COUNT(*) FROM patients", "COUNT(*)\n4", "4")[0]
    kept, why = _verdict("How many patients does the clinic have?", "SELECT COUNT(*) FROM doctors", "COUNT(*)\n2", "2")
    assert not kept and "patient" in why
    # a database named for one of its tables: the word is the table's
    steps, after = _sql("SELECT COUNT(*) FROM doctors", "COUNT(*)\n2", "2")
    steps[0]["observation"] = BANNER.replace("clinic.db", "patients.db")
    got = judge("How many patients are there?", steps, after=after)
    assert not got.verdict and "patient" in got.reason


def test_a_table_the_rows_read_refer_to_by_a_key_is_what_they_hold() -> None:
    never_seen = "SELECT name FROM patients WHERE patient_id NOT IN (SELECT patient_id FROM visits)"
    assert _verdict("Which patients have never seen a doctor?", never_seen, "name\n---\nAna Silva\n(1 row)")[0]
    # visits refer to patients and doctors, not to invoices: an invoice asked about is a thing the span left alone
    kept, why = _verdict(
        "Which visits were held before the invoice was sent? Give the visit ids.",
        "SELECT visit_id FROM visits WHERE held_on IS NULL",
        "visit_id\n---\n3\n(1 row)",
    )
    assert not kept and "names invoic" in why
    # what a question counts is its subject, not what the rows it read hold: visits hold doctors, but counting
    # visits does not count doctors
    kept, why = _verdict("How many doctors are there?", "SELECT COUNT(*) FROM visits", "COUNT(*)\n9", "9")
    assert not kept and "names doctor" in why


def test_a_key_in_short_form_names_its_table() -> None:
    per_department = "SELECT dept_id, COUNT(*) FROM doctors GROUP BY dept_id"
    result = "dept_id | COUNT(*)\n--- | ---\n1 | 3\n(1 row)"
    assert _verdict("How many doctors work in each department?", per_department, result)[0]
    per_specialty = "SELECT specialty, COUNT(*) FROM doctors GROUP BY specialty"
    kept, why = _verdict("How many doctors work in each department?", per_specialty, result)
    assert not kept and "returns specialty" in why


def test_who_is_answered_by_a_name_or_a_persons_role() -> None:
    named = "SELECT d.full_name FROM visits v JOIN doctors d ON d.doctor_id = v.doctor_id WHERE v.patient_id = 7"
    assert _verdict("Who treated patient 7?", named, "full_name\n---\nRita Long\n(1 row)", "Rita Long")[0]
    other = named.replace("d.full_name", "d.specialty")
    kept, why = _verdict("Who treated patient 7?", other, "specialty\n---\ncardiology\n(1 row)", "cardiology")
    assert not kept and "returns specialty" in why
    wrote = "SELECT author FROM notes WHERE visit_id = 12"
    assert _verdict("Who wrote the note on visit 12?", wrote, "author\n---\nRita Long\n(1 row)", "Rita Long")[0]
    kept, why = _verdict("Who wrote the note on visit 12?", wrote.replace("author", "body"), "body\n---\nok\n(1 row)")
    assert not kept and "returns body" in why


def test_not_yet_and_never_are_read_by_a_null_test_or_a_not() -> None:
    unpaid = "SELECT invoice_id FROM invoices WHERE paid_on IS NULL"
    assert _verdict("Which invoices are not yet paid? Give their ids.", unpaid, "invoice_id\n---\n2\n(1 row)")[0]
    kept, why = _verdict("Which invoices are not yet sent? Give their ids.", unpaid, "invoice_id\n---\n2\n(1 row)")
    assert not kept and "not sent" in why
    never = "SELECT name FROM patients WHERE patient_id NOT IN (SELECT patient_id FROM invoices)"
    assert _verdict("Which patients were never billed?", never, "name\n---\nAna Silva\n(1 row)")[0]
    kept, why = _verdict("Which patients were never billed?", never.replace("NOT IN", "IN"), "name\n---\nBo\n(1 row)")
    assert not kept and "negates nothing" in why


def test_a_never_inside_a_name_negates_nothing() -> None:
    query = "SELECT d.full_name FROM doctors d WHERE d.specialty = 'Never Too Late'"
    result = "full_name\n---\nRita Long\n(1 row)"
    assert _verdict("Who practises Never Too Late?", query, result, "Rita Long")[0]
    kept, why = _verdict("Who never practises Never Too Late?", query, result, "Rita Long")
    assert not kept and "negates nothing" in why


def test_an_inserted_rows_values_in_columns_not_named_are_the_agents_to_fill() -> None:
    def insert(columns: str, values: str) -> list[dict[str, Any]]:
        return [
            {
                "action": f'execute_sql("INSERT INTO patients ({columns}) VALUES ({values})")',
                "observation": BANNER.replace("read-only", "writable"),
            }
        ]

    done = {"observation": "OK (1 row(s) affected)"}
    filled = insert("name, phone, registered", "'Ana Silva', '555-0101', '2025-01-02'")
    assert judge("Add a patient named Ana Silva with the phone 555-0101.", filled, after=done).verdict
    other_plan = insert("name, plan", "'Ana Silva', 'basic'")
    got = judge("Add a patient named Ana Silva on the gold plan.", other_plan, after=done)
    assert not got.verdict and "chose 'basic'" in got.reason


def test_an_empty_result_answers_which_unless_a_value_the_agent_chose_emptied_it() -> None:
    idle = "SELECT full_name FROM doctors WHERE doctor_id NOT IN (SELECT doctor_id FROM visits)"
    assert _verdict("Which doctors have never had a visit?", idle, "full_name\n---\n(0 rows)")[0]
    guessed = "SELECT invoice_id FROM invoices WHERE paid_on IS NULL OR paid_on = 1"
    kept, why = _verdict("Which invoices have no paid date? Give the ids.", guessed, "invoice_id\n---\n(0 rows)")
    assert not kept and "does not answer" in why
    pattern = "SELECT full_name FROM doctors WHERE specialty LIKE '%cardio%'"
    kept, why = _verdict("Which doctors have a specialty in neurology?", pattern, "full_name\n---\n(0 rows)")
    assert not kept and "does not answer" in why
    kept, why = _verdict(
        "What is the phone of patient 9?", "SELECT phone FROM patients WHERE patient_id = 9", "x\n(0 rows)"
    )
    assert not kept and "does not answer" in why


def test_how_many_is_answered_by_a_number() -> None:
    busiest = (
        "SELECT p.name FROM patients p JOIN visits v ON v.patient_id = p.patient_id "
        "GROUP BY p.patient_id ORDER BY COUNT(*) DESC LIMIT 1"
    )
    kept, why = _verdict("How many visits has Ana Silva had?", busiest, "name\nAna Silva", "Ana Silva")
    assert not kept and "no number" in why
    counted = "SELECT COUNT(*) FROM visits v JOIN patients p ON p.patient_id = v.patient_id WHERE p.name = 'Ana Silva'"
    assert _verdict("How many visits has Ana Silva had?", counted, "COUNT(*)\n3", "3")[0]


def test_which_things_with_names_are_answered_by_a_name_column_not_by_ids() -> None:
    result = "{}\n---\n5\n(1 row)"
    kept, why = _verdict(
        "Which patients have no phone on file?",
        "SELECT patient_id FROM patients WHERE phone IS NULL",
        result.format("patient_id"),
    )
    assert not kept and "not what they are called" in why
    assert _verdict(
        "Which patients have no phone on file?",
        "SELECT name FROM patients WHERE phone IS NULL",
        "name\n---\nBo Chen\n(1 row)",
    )[0]
    cardiologists = "SELECT full_name FROM doctors WHERE specialty = 'cardiology'"
    assert _verdict("Which doctors practise cardiology?", cardiologists, "full_name\n---\nRita Long\n(1 row)")[0]
    kept, why = _verdict("Which doctors practise cardiology?", cardiologists.replace("full_name", "specialty"), result)
    assert not kept and "returns specialty" in why
    # visits have no name of their own: their ids say which
    assert _verdict(
        "Which visits have no invoice?",
        "SELECT visit_id FROM visits WHERE visit_id NOT IN (SELECT visit_id FROM invoices)",
        result.format("visit_id"),
    )[0]


def test_the_page_answered_on_is_read_once_when_it_is_the_end_page() -> None:
    page = "full_name\n---\nRita Long\nSam Ode\n(2 rows)"
    steps, after = _sql("SELECT full_name FROM doctors LIMIT 2", page, "Rita Long")
    assert read_effects(steps, after).read == page
    steps[1]["observation"] = "full_name\n---\nRita Long\n(1 row)"
    assert read_effects(steps, after).read.count("Rita Long") == 2  # two pages: both read
    busiest = (
        "SELECT d.full_name FROM doctors d JOIN visits v ON v.doctor_id = d.doctor_id "
        "GROUP BY d.doctor_id ORDER BY COUNT(*) DESC LIMIT 2"
    )
    # a result of four lines is a small page: the answer is placed by its query, not by the lines around it
    assert _verdict("Which doctor has the most visits?", busiest, page, "Rita Long")[0]
