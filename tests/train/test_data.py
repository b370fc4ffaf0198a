"""Choosing what a training run learns from: the per-instruction cap."""

from __future__ import annotations

from collections import Counter

from lbi.train.data import capped_per_instruction


def test_an_instruction_the_data_repeats_is_capped_and_a_rare_one_kept() -> None:
    examples = [{"id": k, "instruction": 'Click on the "Submit" button.'} for k in range(10)]
    examples += [{"id": 10 + k, "instruction": f'Enter "w{k}" into the text field.'} for k in range(3)]
    examples.append({"id": 99, "instruction": '  click on the "submit"   BUTTON. '})  # the same, as a person reads it
    kept = capped_per_instruction(examples, 2)
    by_text = Counter("submit" in str(e["instruction"]).lower() for e in examples if e["id"] in kept)
    assert by_text == {True: 2, False: 3}
    assert kept == capped_per_instruction(examples, 2)  # seeded: the same choice every time
    assert capped_per_instruction(examples, 100) == {e["id"] for e in examples}
