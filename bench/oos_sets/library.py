"""The lending-library set: authors, books, members and loans, and 25 tasks on them (21 questions, 4 writes).

Tuned on from session 12: the grounding rule is fixed on this set's errors, so its figures say how a judge does on
data it was tuned on. The held-out set is `clinic`.
"""

from __future__ import annotations

from . import Question, SqlSet, Write

SCHEMA = """
CREATE TABLE authors (author_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, country TEXT, birth_year INTEGER);
CREATE TABLE books (book_id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER REFERENCES authors(author_id),
  genre TEXT, published_year INTEGER, copies INTEGER NOT NULL DEFAULT 1);
CREATE TABLE members (member_id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT, joined DATE,
  tier TEXT DEFAULT 'standard');
CREATE TABLE loans (loan_id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES books(book_id),
  member_id INTEGER REFERENCES members(member_id), loaned_on DATE, due_on DATE, returned_on DATE,
  fine_cents INTEGER DEFAULT 0);
"""
AUTHORS = [
    (1, "Ursula K. Le Guin", "USA", 1929),
    (2, "Chinua Achebe", "Nigeria", 1930),
    (3, "Haruki Murakami", "Japan", 1949),
    (4, "Margaret Atwood", "Canada", 1939),
    (5, "Gabriel García Márquez", "Colombia", 1927),
    (6, "Toni Morrison", "USA", 1931),
    (7, "Kazuo Ishiguro", "UK", 1954),
    (8, "Olga Tokarczuk", "Poland", 1962),
]
BOOKS = [
    (1, "A Wizard of Earthsea", 1, "fantasy", 1968, 3),
    (2, "The Left Hand of Darkness", 1, "science fiction", 1969, 2),
    (3, "The Dispossessed", 1, "science fiction", 1974, 1),
    (4, "Things Fall Apart", 2, "literary", 1958, 4),
    (5, "Arrow of God", 2, "literary", 1964, 1),
    (6, "Norwegian Wood", 3, "literary", 1987, 2),
    (7, "Kafka on the Shore", 3, "fantasy", 2002, 2),
    (8, "The Handmaid's Tale", 4, "dystopian", 1985, 3),
    (9, "Oryx and Crake", 4, "dystopian", 2003, 1),
    (10, "One Hundred Years of Solitude", 5, "literary", 1967, 2),
    (11, "Beloved", 6, "literary", 1987, 2),
    (12, "Song of Solomon", 6, "literary", 1977, 1),
    (13, "Never Let Me Go", 7, "science fiction", 2005, 2),
    (14, "The Remains of the Day", 7, "literary", 1989, 1),
    (15, "Flights", 8, "literary", 2007, 1),
    (16, "Drive Your Plow Over the Bones of the Dead", 8, "mystery", 2009, 1),
]
MEMBERS = [
    (1, "Alice Moreau", "alice@example.org", "2021-03-14", "premium"),
    (2, "Ben Okafor", "ben@example.org", "2022-07-01", "standard"),
    (3, "Chen Wei", "chen@example.org", "2020-11-23", "standard"),
    (4, "Dana Kowalski", "dana@example.org", "2023-01-09", "premium"),
    (5, "Elif Demir", None, "2023-05-30", "standard"),
    (6, "Farid Haddad", "farid@example.org", "2019-09-02", "student"),
    (7, "Grace Lindqvist", "grace@example.org", "2024-02-18", "student"),
    (8, "Hiro Tanaka", "hiro@example.org", "2024-06-11", "standard"),
    (9, "Ines Carvalho", "ines@example.org", "2022-12-05", "premium"),
    (10, "Jonas Weber", None, "2024-09-27", "standard"),
]
LOANS = [
    (1, 1, 1, "2024-09-01", "2024-09-22", "2024-09-20", 0),
    (2, 4, 2, "2024-09-03", "2024-09-24", "2024-09-30", 150),
    (3, 8, 3, "2024-09-05", "2024-09-26", "2024-09-25", 0),
    (4, 6, 1, "2024-09-10", "2024-10-01", "2024-10-05", 100),
    (5, 13, 4, "2024-09-12", "2024-10-03", None, 0),
    (6, 10, 6, "2024-09-15", "2024-10-06", "2024-10-02", 0),
    (7, 2, 2, "2024-09-20", "2024-10-11", None, 0),
    (8, 11, 9, "2024-09-21", "2024-10-12", "2024-10-12", 0),
    (9, 4, 7, "2024-09-25", "2024-10-16", None, 0),
    (10, 7, 3, "2024-10-01", "2024-10-22", "2024-10-28", 150),
    (11, 16, 8, "2024-10-02", "2024-10-23", None, 0),
    (12, 1, 4, "2024-10-04", "2024-10-25", "2024-10-24", 0),
    (13, 9, 1, "2024-10-07", "2024-10-28", None, 0),
    (14, 14, 6, "2024-10-09", "2024-10-30", "2024-11-04", 250),
    (15, 3, 9, "2024-10-12", "2024-11-02", "2024-11-01", 0),
    (16, 12, 2, "2024-10-15", "2024-11-05", None, 0),
    (17, 5, 3, "2024-10-18", "2024-11-08", "2024-11-06", 0),
    (18, 8, 7, "2024-10-20", "2024-11-10", None, 0),
    (19, 15, 1, "2024-10-22", "2024-11-12", "2024-11-12", 0),
    (20, 6, 9, "2024-10-25", "2024-11-15", None, 0),
    (21, 4, 4, "2024-10-26", "2024-11-16", "2024-11-20", 200),
    (22, 13, 8, "2024-10-28", "2024-11-18", None, 0),
]


QUESTIONS: list[Question] = [
    ("How many members does the library have?", "SELECT COUNT(*) FROM members", True, "number", "easy"),
    (
        "How many books were published before 1970?",
        "SELECT COUNT(*) FROM books WHERE published_year < 1970",
        True,
        "number",
        "easy",
    ),
    (
        "What is the email address of Dana Kowalski?",
        "SELECT email FROM members WHERE name = 'Dana Kowalski'",
        True,
        "exact",
        "easy",
    ),
    ("List the titles of all dystopian books.", "SELECT title FROM books WHERE genre = 'dystopian'", None, "", "easy"),
    (
        "Which country is Chinua Achebe from?",
        "SELECT country FROM authors WHERE full_name = 'Chinua Achebe'",
        True,
        "exact",
        "easy",
    ),
    (
        "Who wrote Never Let Me Go?",
        "SELECT a.full_name FROM books b JOIN authors a ON a.author_id = b.author_id WHERE b.title = 'Never Let Me Go'",
        True,
        "exact",
        "easy",
    ),
    (
        "List the titles of the books by Ursula K. Le Guin.",
        "SELECT b.title FROM books b JOIN authors a ON a.author_id = b.author_id "
        "WHERE a.full_name = 'Ursula K. Le Guin'",
        None,
        "",
        "easy",
    ),
    (
        "Which loans are still out (not yet returned)? Give their loan ids.",
        "SELECT loan_id FROM loans WHERE returned_on IS NULL",
        None,
        "",
        "medium",
    ),
    (
        "How many loans has Alice Moreau taken out?",
        "SELECT COUNT(*) FROM loans l JOIN members m ON m.member_id = l.member_id WHERE m.name = 'Alice Moreau'",
        True,
        "number",
        "medium",
    ),
    (
        "Which members have never borrowed a book?",
        "SELECT name FROM members WHERE member_id NOT IN (SELECT member_id FROM loans)",
        None,
        "",
        "medium",
    ),
    (
        "Which books have never been loaned?",
        "SELECT title FROM books WHERE book_id NOT IN (SELECT book_id FROM loans)",
        None,
        "",
        "medium",
    ),
    (
        "What is the average publication year of the literary books?",
        "SELECT AVG(published_year) FROM books WHERE genre = 'literary'",
        "%.1f",
        "number",
        "medium",
    ),
    (
        "How much have members paid in fines in total, in cents?",
        "SELECT SUM(fine_cents) FROM loans",
        True,
        "number",
        "easy",
    ),
    (
        "Which member has the most loans?",
        "SELECT m.name FROM members m JOIN loans l ON l.member_id = m.member_id GROUP BY m.member_id "
        "ORDER BY COUNT(*) DESC LIMIT 1",
        True,
        "exact",
        "medium",
    ),
    (
        "How many copies of Things Fall Apart does the library hold?",
        "SELECT copies FROM books WHERE title = 'Things Fall Apart'",
        True,
        "number",
        "easy",
    ),
    ("List the members on the student tier.", "SELECT name FROM members WHERE tier = 'student'", None, "", "easy"),
    ("Which members have no email address on file?", "SELECT name FROM members WHERE email IS NULL", None, "", "easy"),
    (
        "How many books does each genre have? Show the genre and the count.",
        "SELECT genre, COUNT(*) FROM books GROUP BY genre",
        None,
        "",
        "medium",
    ),
    (
        "Which loans were returned after their due date? Give the loan ids.",
        "SELECT loan_id FROM loans WHERE returned_on > due_on",
        None,
        "",
        "medium",
    ),
    (
        "Who is the oldest author in the catalogue?",
        "SELECT full_name FROM authors ORDER BY birth_year LIMIT 1",
        True,
        "exact",
        "easy",
    ),
    ("What is the title of book 13?", "SELECT title FROM books WHERE book_id = 13", True, "exact", "easy"),
]
# (instruction, statement, check query, expected rows)
WRITES: list[Write] = [
    (
        "Mark loan 7 as returned on 2024-10-10.",
        "UPDATE loans SET returned_on = '2024-10-10' WHERE loan_id = 7",
        "SELECT returned_on FROM loans WHERE loan_id = 7",
        [["2024-10-10"]],
    ),
    (
        "Move Ben Okafor to the premium tier.",
        "UPDATE members SET tier = 'premium' WHERE name = 'Ben Okafor'",
        "SELECT tier FROM members WHERE member_id = 2",
        [["premium"]],
    ),
    (
        "Add a new member named Kofi Mensah with the email kofi@example.org.",
        "INSERT INTO members (name, email, joined) VALUES ('Kofi Mensah', 'kofi@example.org', '2024-11-01')",
        "SELECT email FROM members WHERE name = 'Kofi Mensah'",
        [["kofi@example.org"]],
    ),
    (
        "Charge a fine of 300 cents on loan 14.",
        "UPDATE loans SET fine_cents = 300 WHERE loan_id = 14",
        "SELECT fine_cents FROM loans WHERE loan_id = 14",
        [[300]],
    ),
]


SET = SqlSet(
    name="library",
    prefix="lib",
    schema=SCHEMA,
    tables={"authors": AUTHORS, "books": BOOKS, "members": MEMBERS, "loans": LOANS},
    questions=QUESTIONS,
    writes=WRITES,
    tuned_on="session 12",
)
