"""The Env contract as a runnable check (Gymnasium's ``check_env`` habit).

``check_env(make)`` builds environments with ``make()`` and drives them through the contract of
:mod:`lbi.envs.base`: typed observations, step numbering, errors in ``last_action_error`` instead of
exceptions, ``stop`` ending the episode, deterministic reset, ``evidence()``, an idempotent ``close`` and
the context manager. ``tests/envs/test_conformance.py`` runs it over every registered spec with the
options its ``conformance`` callable gives; a plugin author can run it on a new env the same way.
"""

from __future__ import annotations

from collections.abc import Callable

from lbi.envs.base import Candidate, Env, EnvClosed, EnvError, Evidence, Observation


class ConformanceError(EnvError):
    """An environment breaks the Env contract; the message says which rule."""


def _expect(ok: object, rule: str) -> None:
    if not ok:
        raise ConformanceError(rule)


def check_env(make: Callable[[], Env]) -> None:
    """Raise :class:`ConformanceError` at the first broken rule; return quietly if ``make()``'s envs
    honour the contract. Every env it builds is closed, whatever happens."""
    env = make()
    try:
        _check_episodes(env)
    finally:
        env.close()
    env.close()  # idempotent
    _expect_closed(env)
    with make() as managed:
        managed.reset()
    _expect_closed(managed)


def _expect_closed(env: Env) -> None:
    for call in (lambda: env.step("noop()"), env.reset):
        try:
            call()
        except EnvClosed:
            continue
        raise ConformanceError("reset()/step() after close() (or the with block) must raise EnvClosed")


def _check_episodes(env: Env) -> None:
    _expect(isinstance(env, Env), f"{type(env).__name__} does not implement the Env protocol")
    doc = env.action_space_doc()
    _expect(
        "stop(answer" in doc and "send_msg_to_user" in doc,
        "action_space_doc() must describe stop(answer) and send_msg_to_user",
    )

    first = env.reset()
    _expect(
        isinstance(first, Observation) and first.step == 0 and not first.done,
        "reset() must return an Observation with step 0, not done",
    )
    _expect(isinstance(first.text, str) and first.state_signature, "reset() must set text and state_signature")
    cands = env.interactive_elements(first)
    _expect(
        cands and all(isinstance(c, Candidate) for c in cands),
        "interactive_elements() must offer at least one Candidate after reset",
    )
    _expect(isinstance(env.evidence(), Evidence), "evidence() must return an Evidence record")

    obs = env.step("noop()")
    _expect(obs.step == 1 and obs.last_action_error is None and not obs.done, "noop() must be a clean step 1")
    bad = env.step("definitely_not_an_action(1)")
    _expect(
        bad.last_action_error and "unknown action" in bad.last_action_error,
        "an unknown action must come back as last_action_error naming it",
    )
    _expect(not bad.done and bad.step == 2, "an unknown action must not end the episode")
    garbage = env.step("")
    _expect(garbage.last_action_error and not garbage.done, "an empty action must be an error, not the end")

    if env.deterministic_reset:
        second = env.reset()
        _expect(
            second.text == first.text and second.state_signature == first.state_signature,
            "deterministic_reset is set but a second reset() looks different",
        )

    env.reset()
    done = env.step("stop('42')")
    _expect(done.done and done.answer == "42", "stop('42') must end the episode with answer '42'")
    after = env.step("noop()")
    _expect(after.done and after.last_action_error, "a step after the end must be an error observation")
