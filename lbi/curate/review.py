"""Going through a review queue one example at a time: keep, drop, allow or keep out a leak flag, skip, edit the
instruction, undo.

A `Review` holds the queue's example ids (read once, `lbi.store.queues.queue_ids`), where the reviewer is, and what
they did, so the last action can be undone. Keep and drop are human overrides (who, when, why) written by the
store's one writer; allow and keep out are a person's decision on the example's leak flag (`Store.add_leak_override`,
as `lbi leakage allow/block` records it). Undoing either marks it undone (it stays on record). An edit keeps the old
instruction in the example's edit history; undoing it edits the instruction back (that, too, is in the history).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lbi.store.committee import Judges
from lbi.store.db import Store
from lbi.store.queues import QueueSpec, queue_ids

Kind = Literal["keep", "drop", "allow", "block", "skip", "edit"]
DECISIONS: tuple[Kind, ...] = ("keep", "drop", "allow", "block")
"""The actions that decide on an example: a keep/drop override, or allow/keep out (block) its leak flag."""


@dataclass
class Action:
    """One thing the reviewer did: on which example, at which place in the queue, and what undoes it."""

    kind: Kind
    example_id: int
    position: int
    override_id: int | None = None
    leak_override_id: int | None = None
    old_instruction: str | None = None
    new_instruction: str | None = None


@dataclass
class Review:
    """A queue being gone through: `ids` in order, the `position` of the example on screen, the `actions` so far."""

    spec: QueueSpec
    ids: list[int]
    position: int = 0
    actions: list[Action] = field(default_factory=list)

    @classmethod
    def open(cls, store: Store, spec: QueueSpec, judges: Judges, *, at: int | None = None) -> Review:
        """The queue of `spec`, at example `at` if given (put first when the queue does not hold it: a link to an
        example always opens that example)."""
        ids = queue_ids(store, spec, judges)
        review = cls(spec=spec, ids=ids)
        if at is not None:
            review.go_to(at)
        return review

    # -- where we are --------------------------------------------------------------------------------------------
    @property
    def current(self) -> int | None:
        """The example on screen, or None once the queue is done (or empty)."""
        return self.ids[self.position] if 0 <= self.position < len(self.ids) else None

    @property
    def total(self) -> int:
        return len(self.ids)

    @property
    def decided(self) -> int:
        """How many examples of the queue got a keep, drop, allow or keep out in this review (undone ones not
        counted)."""
        return len({a.example_id for a in self.actions if a.kind in DECISIONS})

    def go_to(self, example_id: int) -> None:
        """Show `example_id` next (inserted at the current place if the queue does not hold it)."""
        if example_id not in self.ids:
            self.ids.insert(min(self.position, len(self.ids)), example_id)
        self.position = self.ids.index(example_id)

    def move(self, delta: int) -> None:
        """Go back or forward in the queue without deciding (one past the end means done)."""
        self.position = min(max(self.position + delta, 0), len(self.ids))

    # -- what the reviewer does ----------------------------------------------------------------------------------
    def decide(self, store: Store, verdict: Literal["keep", "drop"], *, who: str, note: str = "") -> Action:
        """Override the committee on the current example (a keep or drop with who, when, why), then go on."""
        example_id = self._current_or_fail()
        override_id = store.add_override(example_id, verdict, who=who, note=note)
        return self._did(Action(verdict, example_id, self.position, override_id=override_id))

    def decide_leak(self, store: Store, verdict: Literal["allow", "block"], *, who: str, note: str = "") -> Action:
        """Decide on the current example's leak flag — allow it despite the flag (it may be trained on, if the
        committee keeps it) or keep it out as a leak — with who, when, why; then go on."""
        example_id = self._current_or_fail()
        leak_id = store.add_leak_override("example", str(example_id), verdict, who=who, note=note)
        return self._did(Action(verdict, example_id, self.position, leak_override_id=leak_id))

    def skip(self) -> Action:
        """Leave the current example as it is and go on."""
        return self._did(Action("skip", self._current_or_fail(), self.position))

    def edit(self, store: Store, instruction: str, *, who: str) -> Action | None:
        """Change the current example's instruction (history kept); stays on it. None when nothing changed."""
        example_id = self._current_or_fail()
        instruction = instruction.strip()
        old = store.query("SELECT instruction FROM examples WHERE id = ?", (example_id,))[0][0]
        if not instruction or instruction == old:
            return None
        store.edit_example(example_id, instruction, who=who)
        action = Action("edit", example_id, self.position, old_instruction=old, new_instruction=instruction)
        self.actions.append(action)
        return action

    def undo(self, store: Store, *, who: str) -> Action | None:
        """Take back the last action (an override or a leak decision is marked undone, an edit is edited back) and
        return to its example. None when there is nothing to undo."""
        if not self.actions:
            return None
        action = self.actions.pop()
        if action.override_id is not None:
            store.undo_overrides(ids=[action.override_id], who=who)
        elif action.leak_override_id is not None:
            store.undo_leak_override(action.leak_override_id, who=who)
        elif action.kind == "edit" and action.old_instruction is not None:
            store.edit_example(action.example_id, action.old_instruction, who=who)
        if action.example_id in self.ids:
            self.position = self.ids.index(action.example_id)
        return action

    def _current_or_fail(self) -> int:
        current = self.current
        if current is None:
            raise IndexError("the queue is done: nothing to decide")
        return current

    def _did(self, action: Action) -> Action:
        self.actions.append(action)
        self.position += 1
        return action
