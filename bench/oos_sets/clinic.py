"""The veterinary-clinic set: owners, pets, vets, visits and prescriptions, and 30 tasks on them (25 questions,
5 writes).

Held out (THE RULE in `judge_oos_sql.py`): written from the data alone, without reading any judge's
errors on it; nobody has tuned a judge on it.
"""

from __future__ import annotations

from . import Question, SqlSet, Write

SCHEMA = """
CREATE TABLE owners (owner_id INTEGER PRIMARY KEY, full_name TEXT NOT NULL, phone TEXT, city TEXT, registered DATE);
CREATE TABLE vets (vet_id INTEGER PRIMARY KEY, name TEXT NOT NULL, specialty TEXT, hired DATE,
  on_call INTEGER NOT NULL DEFAULT 0);
CREATE TABLE pets (pet_id INTEGER PRIMARY KEY, name TEXT NOT NULL, species TEXT NOT NULL, breed TEXT, born DATE,
  weight_kg REAL, owner_id INTEGER REFERENCES owners(owner_id));
CREATE TABLE visits (visit_id INTEGER PRIMARY KEY, pet_id INTEGER REFERENCES pets(pet_id),
  vet_id INTEGER REFERENCES vets(vet_id), visit_date DATE NOT NULL, reason TEXT, diagnosis TEXT, fee REAL,
  paid_on DATE);
CREATE TABLE prescriptions (prescription_id INTEGER PRIMARY KEY, visit_id INTEGER REFERENCES visits(visit_id),
  drug TEXT NOT NULL, dose_mg REAL, times_per_day INTEGER, days INTEGER, refills INTEGER NOT NULL DEFAULT 0);
"""
OWNERS = [
    (1, "Marta Sørensen", "0113 496 0141", "Leeds", "2019-04-02"),
    (2, "Tom Ashworth", "0113 496 0782", "Leeds", "2020-01-15"),
    (3, "Priya Raman", None, "York", "2021-06-30"),
    (4, "Declan O'Brien", "01904 555 210", "York", "2018-11-08"),
    (5, "Yuki Sato", "01423 555 931", "Harrogate", "2022-03-21"),
    (6, "Grace Mbeki", "0113 496 0533", "Leeds", "2023-08-14"),
    (7, "Luis Ortega", None, "Wakefield", "2024-01-09"),
    (8, "Hannah Fischer", "01924 555 672", "Wakefield", "2024-05-27"),
    (9, "Sam Whitfield", "01904 555 388", None, "2024-10-03"),
]
VETS = [
    (1, "Amira Haddad", "surgery", "2015-09-01", 1),
    (2, "Owen Pryce", "general practice", "2018-02-12", 0),
    (3, "Lena Novak", "dermatology", "2020-07-06", 0),
    (4, "Kwame Boateng", "exotics", "2022-03-14", 1),
    (5, "Isla MacLeod", "general practice", "2024-08-19", 0),
]
PETS = [
    (1, "Biscuit", "dog", "Labrador Retriever", "2016-05-10", 31.5, 1),
    (2, "Miso", "cat", "Siamese", "2019-08-22", 4.1, 1),
    (3, "Pepper", "dog", "Border Collie", "2020-02-14", 18.2, 2),
    (4, "Clover", "rabbit", "Holland Lop", "2022-04-01", 1.8, 3),
    (5, "Rufus", "dog", None, "2014-11-30", 24.0, 4),
    (6, "Nala", "cat", "Maine Coon", "2018-06-18", 6.7, 4),
    (7, "Kiwi", "bird", "Budgerigar", "2023-01-05", 0.04, 5),
    (8, "Mochi", "cat", None, "2021-09-12", 3.9, 5),
    (9, "Bruno", "dog", "Boxer", "2017-03-03", 29.8, 6),
    (10, "Shelly", "tortoise", "Hermann's tortoise", "2001-07-15", 1.2, 7),
    (11, "Luna", "cat", "British Shorthair", "2020-12-24", 5.2, 8),
    (12, "Ziggy", "ferret", None, "2022-10-10", 1.1, 8),
    (13, "Pip", "dog", "Jack Russell Terrier", None, 7.5, 2),
    (14, "Olive", "cat", "Sphynx", "2023-07-19", None, 6),
]
VISITS = [
    (1, 1, 2, "2024-11-04", "annual checkup", "healthy", 45.0, "2024-11-04"),
    (2, 2, 3, "2024-11-06", "itchy skin", "flea allergy dermatitis", 62.5, "2024-11-06"),
    (3, 5, 1, "2024-11-12", "limping", "cruciate ligament tear", 120.0, "2024-11-20"),
    (4, 7, 4, "2024-11-18", "feather loss", None, 38.0, None),
    (5, 5, 1, "2024-11-26", "surgery", "cruciate ligament repair", 1450.0, "2024-12-10"),
    (6, 9, 2, "2024-12-02", "vaccination", "healthy", 55.0, "2024-12-02"),
    (7, 3, 2, "2024-12-09", "vomiting", "gastroenteritis", 78.0, "2024-12-09"),
    (8, 11, 3, "2024-12-13", "hair loss", "ringworm", 64.0, None),
    (9, 10, 4, "2024-12-17", "not eating", "respiratory infection", 85.0, "2025-01-03"),
    (10, 6, 2, "2025-01-07", "annual checkup", "dental disease", 45.0, "2025-01-07"),
    (11, 1, 1, "2025-01-14", "lump on leg", "lipoma", 95.0, "2025-01-14"),
    (12, 12, 4, "2025-01-20", "sneezing", None, 40.0, None),
    (13, 8, 5, "2025-01-22", "vaccination", "healthy", 55.0, "2025-01-22"),
    (14, 13, 5, "2025-02-03", "ear scratching", "ear mites", 48.0, "2025-02-03"),
    (15, 4, 4, "2025-02-05", "overgrown teeth", "dental malocclusion", 70.0, "2025-02-05"),
    (16, 6, 1, "2025-02-11", "dental cleaning", "dental disease", 310.0, None),
    (17, 2, 3, "2025-02-18", "itchy skin", "flea allergy dermatitis", 62.5, "2025-02-18"),
    (18, 9, 5, "2025-02-24", "limping", "soft tissue sprain", 60.0, "2025-02-25"),
    (19, 14, 3, "2025-03-03", "skin rash", None, 58.0, None),
    (20, 3, 2, "2025-03-05", "annual checkup", "healthy", 45.0, "2025-03-05"),
    (21, 11, 3, "2025-03-10", "follow-up", "ringworm", 35.0, None),
    (22, 5, 2, "2025-03-12", "stiff joints", "osteoarthritis", 52.0, "2025-03-12"),
    (23, 7, 4, "2025-03-17", "feather loss", "feather plucking", 38.0, None),
    (24, 1, 5, "2025-03-20", "vaccination", None, 55.0, None),
]
PRESCRIPTIONS = [
    (1, 2, "Selamectin", 45.0, 1, 1, 2),
    (2, 3, "Carprofen", 100.0, 2, 10, 0),
    (3, 5, "Meloxicam", 1.5, 1, 14, 1),
    (4, 5, "Cefalexin", 500.0, 2, 7, 0),
    (5, 7, "Maropitant", 24.0, 1, 3, 0),
    (6, 8, "Itraconazole", 25.0, 1, 28, 1),
    (7, 9, "Enrofloxacin", 12.0, 1, 10, 0),
    (8, 11, "Carprofen", 75.0, 2, 5, 0),
    (9, 14, "Oridermyl", None, 2, 14, 0),
    (10, 16, "Clindamycin", 75.0, 2, 7, 0),
    (11, 17, "Selamectin", 45.0, 1, 1, 3),
    (12, 18, "Meloxicam", 1.5, 1, 5, 0),
    (13, 21, "Itraconazole", 25.0, 1, 14, 0),
    (14, 22, "Meloxicam", 1.5, 1, 30, 5),
    (15, 22, "Gabapentin", 100.0, 2, 30, 2),
    (16, 9, "Meloxicam", 0.1, 1, 7, 0),
]

QUESTIONS: list[Question] = [
    ("How many pets are registered at the clinic?", "SELECT COUNT(*) FROM pets", True, "number", "easy"),
    (
        "Who owns Nala?",
        "SELECT o.full_name FROM owners o JOIN pets p ON p.owner_id = o.owner_id WHERE p.name = 'Nala'",
        True,
        "exact",
        "easy",
    ),
    ("List the names of all the cats.", "SELECT name FROM pets WHERE species = 'cat'", None, "", "easy"),
    (
        "Which vet has seen the most visits?",
        "SELECT v.name FROM vets v JOIN visits x ON x.vet_id = v.vet_id GROUP BY v.vet_id "
        "ORDER BY COUNT(*) DESC LIMIT 1",
        True,
        "exact",
        "medium",
    ),
    (
        "Which visits are still unpaid? Give the visit ids.",
        "SELECT visit_id FROM visits WHERE paid_on IS NULL",
        None,
        "",
        "medium",
    ),
    (
        "How many visits took place in February 2025?",
        "SELECT COUNT(*) FROM visits WHERE visit_date BETWEEN '2025-02-01' AND '2025-02-28'",
        True,
        "number",
        "medium",
    ),
    (
        "What is Grace Mbeki's phone number?",
        "SELECT phone FROM owners WHERE full_name = 'Grace Mbeki'",
        True,
        "exact",
        "easy",
    ),
    (
        "Which owners don't have any pets registered?",
        "SELECT full_name FROM owners WHERE owner_id NOT IN (SELECT owner_id FROM pets)",
        None,
        "",
        "medium",
    ),
    (
        "Which visits have no diagnosis yet? List each visit id with the pet's name.",
        "SELECT x.visit_id, p.name FROM visits x JOIN pets p ON p.pet_id = x.pet_id WHERE x.diagnosis IS NULL",
        None,
        "",
        "medium",
    ),
    (
        "How much is still owed to the clinic in unpaid fees altogether?",
        "SELECT SUM(fee) FROM visits WHERE paid_on IS NULL",
        True,
        "number",
        "medium",
    ),
    (
        "Which owner owes the most in unpaid visit fees?",
        "SELECT o.full_name FROM owners o JOIN pets p ON p.owner_id = o.owner_id JOIN visits x ON x.pet_id = p.pet_id "
        "WHERE x.paid_on IS NULL GROUP BY o.owner_id ORDER BY SUM(x.fee) DESC LIMIT 1",
        True,
        "exact",
        "hard",
    ),
    (
        "What is the most prescribed drug?",
        "SELECT drug FROM prescriptions GROUP BY drug ORDER BY COUNT(*) DESC LIMIT 1",
        True,
        "exact",
        "medium",
    ),
    (
        "List the dogs that weigh more than 20 kg.",
        "SELECT name FROM pets WHERE species = 'dog' AND weight_kg > 20",
        None,
        "",
        "easy",
    ),
    (
        "How many different species does the clinic treat?",
        "SELECT COUNT(DISTINCT species) FROM pets",
        True,
        "number",
        "easy",
    ),
    (
        "What is the average fee of a cat's visit?",
        "SELECT AVG(x.fee) FROM visits x JOIN pets p ON p.pet_id = x.pet_id WHERE p.species = 'cat'",
        "%.1f",
        "number",
        "medium",
    ),
    (
        "Which pets were born before 2018? Show their names and species.",
        "SELECT name, species FROM pets WHERE born < '2018-01-01'",
        None,
        "",
        "easy",
    ),
    (
        "Who is the longest-serving vet?",
        "SELECT name FROM vets ORDER BY hired LIMIT 1",
        True,
        "exact",
        "easy",
    ),
    ("Which vets are on call?", "SELECT name FROM vets WHERE on_call = 1", None, "", "easy"),
    (
        "How many visits has Dr. Novak done since the start of 2025?",
        "SELECT COUNT(*) FROM visits x JOIN vets v ON v.vet_id = x.vet_id "
        "WHERE v.name = 'Lena Novak' AND x.visit_date >= '2025-01-01'",
        True,
        "number",
        "medium",
    ),
    (
        "What was Rufus diagnosed with at his last visit?",
        "SELECT x.diagnosis FROM visits x JOIN pets p ON p.pet_id = x.pet_id WHERE p.name = 'Rufus' "
        "ORDER BY x.visit_date DESC LIMIT 1",
        True,
        "exact",
        "medium",
    ),
    (
        "Give the id of the pet whose visits have cost the most in total.",
        "SELECT pet_id FROM visits GROUP BY pet_id ORDER BY SUM(fee) DESC LIMIT 1",
        True,
        "exact",
        "medium",
    ),
    (
        "Which drugs has Rufus been prescribed?",
        "SELECT DISTINCT r.drug FROM prescriptions r JOIN visits x ON x.visit_id = r.visit_id "
        "JOIN pets p ON p.pet_id = x.pet_id WHERE p.name = 'Rufus'",
        None,
        "",
        "hard",
    ),
    (
        "How many prescriptions still have refills left?",
        "SELECT COUNT(*) FROM prescriptions WHERE refills > 0",
        True,
        "number",
        "easy",
    ),
    ("List the owners from York.", "SELECT full_name FROM owners WHERE city = 'York'", None, "", "easy"),
    (
        "How many owners signed up in 2024?",
        "SELECT COUNT(*) FROM owners WHERE registered LIKE '2024-%'",
        True,
        "number",
        "easy",
    ),
]
WRITES: list[Write] = [
    (
        "Record that visit 16 was paid on 2025-03-21.",
        "UPDATE visits SET paid_on = '2025-03-21' WHERE visit_id = 16",
        "SELECT paid_on FROM visits WHERE visit_id = 16",
        [["2025-03-21"]],
    ),
    (
        "Register a new cat called Tofu for Sam Whitfield.",
        "INSERT INTO pets (name, species, owner_id) VALUES ('Tofu', 'cat', 9)",
        "SELECT species, owner_id FROM pets WHERE name = 'Tofu'",
        [["cat", 9]],
    ),
    (
        "Prescription 16 was entered by mistake: delete it.",
        "DELETE FROM prescriptions WHERE prescription_id = 16",
        "SELECT COUNT(*) FROM prescriptions WHERE prescription_id = 16",
        [[0]],
    ),
    (
        "Update Luna's weight to 5.6 kg.",
        "UPDATE pets SET weight_kg = 5.6 WHERE name = 'Luna'",
        "SELECT weight_kg FROM pets WHERE pet_id = 11",
        [[5.6]],
    ),
    (
        "Set the diagnosis of visit 12 to influenza.",
        "UPDATE visits SET diagnosis = 'influenza' WHERE visit_id = 12",
        "SELECT diagnosis FROM visits WHERE visit_id = 12",
        [["influenza"]],
    ),
]

SET = SqlSet(
    name="clinic",
    prefix="vet",
    schema=SCHEMA,
    tables={"owners": OWNERS, "vets": VETS, "pets": PETS, "visits": VISITS, "prescriptions": PRESCRIPTIONS},
    questions=QUESTIONS,
    writes=WRITES,
)
