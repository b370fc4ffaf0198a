"""Test tiers: what a test starts (a browser, Trac, the desktop, a sandbox, Ray, training, the embedded model).

A fixture that starts something says so with `@starts("browser")`; every test that uses it, directly or through
other fixtures, gets that marker at collection (`mark_items`). A test that starts something in its own body
carries the marker itself (`pytestmark = pytest.mark.desktop`). `make test` runs every tier; `make test-fast`
deselects them all (`FAST`). Before a tiered test sets up, what its tier needs is checked once with lbi's own
lookups (`missing`): a missing piece fails the test in one line that names it, not deep in a fixture. The end of a
run prints the time spent in each tier (`TierClock`).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TypeVar

import pytest

TIERS: dict[str, str] = {
    "browser": "drives the real Chromium",
    "trac": "starts the Trac demo server (its own venv)",
    "desktop": "starts the desktop (Xvfb, the accessibility bus, LibreOffice Calc)",
    "sandbox": "runs commands in the bubblewrap sandbox",
    "ray": "starts a Ray cluster",
    "training": "trains a model (torch, TRL, peft) or converts one to GGUF",
    "local_model": "calls the real embedded model (SmolLM2 through llama.cpp)",
}
FAST = "not (" + " or ".join(TIERS) + ")"
"""The marker expression `make test-fast` runs: every test that starts none of the tiers."""

F = TypeVar("F", bound=Callable[..., object])


def starts(*tiers: str) -> Callable[[F], F]:
    """Mark a fixture as starting these tiers (put it under `@pytest.fixture`)."""
    unknown = set(tiers) - set(TIERS)
    if unknown:
        raise ValueError(f"unknown tier(s) {sorted(unknown)}; known: {sorted(TIERS)}")

    def mark(func: F) -> F:
        func._lbi_tiers = tiers  # type: ignore[attr-defined]
        return func

    return mark


def item_tiers(item: pytest.Item) -> set[str]:
    """The tiers a collected test starts: its own markers plus those of every fixture in its closure."""
    found = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    info = getattr(item, "_fixtureinfo", None)
    if info is not None:
        for name in getattr(item, "fixturenames", ()):
            for fixturedef in info.name2fixturedefs.get(name, ()):
                found.update(getattr(fixturedef.func, "_lbi_tiers", ()))
    return found


def mark_items(items: list[pytest.Item]) -> None:
    for item in items:
        for tier in sorted(item_tiers(item) - {m.name for m in item.iter_markers()}):
            item.add_marker(getattr(pytest.mark, tier))


def _module_missing(*names: str) -> list[str]:
    return [f"the Python package {name}" for name in names if importlib.util.find_spec(name) is None]


def _browser() -> list[str]:
    from lbi.envs.base import EnvError
    from lbi.envs.web.browser import find_chromium

    try:
        find_chromium()
    except EnvError as err:
        return [f"Chromium ({err})"]
    return _module_missing("playwright")


def _trac() -> list[str]:
    from lbi.envs.web.trac_server import trac_venv

    tracd = trac_venv() / "bin" / "tracd"
    return [] if tracd.exists() else [f"Trac's venv ({tracd} does not exist)"]


def _desktop() -> list[str]:
    from lbi.envs.desktop.apps import SOFFICE
    from lbi.envs.desktop.session import missing_programs

    missing = [f"the Debian package {pkg}" for pkg in missing_programs()]
    if not SOFFICE.exists():
        missing.append(f"LibreOffice Calc ({SOFFICE}; Debian package libreoffice-calc)")
    return missing


def _sandbox() -> list[str]:
    from lbi.envs.sandbox import sandbox_available

    if shutil.which("bwrap") is None:
        return ["the program bwrap (Debian package bubblewrap)"]
    ok, detail = sandbox_available()
    return [] if ok else [f"a working sandbox ({detail})"]


def _ray() -> list[str]:
    ray = Path(sys.executable).parent / "ray"
    return _module_missing("ray") + ([] if ray.exists() else [f"Ray's command ({ray})"])


def _training() -> list[str]:
    from lbi.models.convert import CONVERTER_DIR

    missing = _module_missing("torch", "transformers", "peft", "trl", "gguf")
    if not (CONVERTER_DIR / "convert_hf_to_gguf.py").exists():
        missing.append(f"llama.cpp's GGUF converter ({CONVERTER_DIR})")
    return missing


def _local_model() -> list[str]:
    from lbi.models.local_llm import LocalModelError, default_model_path

    missing = _module_missing("llama_cpp")
    try:
        default_model_path()
    except LocalModelError as err:
        missing.append(f"the embedded model ({err})")
    return missing


CHECKS: dict[str, Callable[[], list[str]]] = {
    "browser": _browser,
    "trac": _trac,
    "desktop": _desktop,
    "sandbox": _sandbox,
    "ray": _ray,
    "training": _training,
    "local_model": _local_model,
}


@cache
def missing(tier: str) -> tuple[str, ...]:
    """What this machine lacks for a tier (checked once per run)."""
    return tuple(CHECKS[tier]())


def require(item: pytest.Item) -> None:
    """Fail a tiered test in one line when its tier's pieces are not installed."""
    for tier in sorted(item_tiers(item)):
        lacking = missing(tier)
        if lacking:
            pytest.fail(f"missing: {'; '.join(lacking)}: run make setup", pytrace=False)


class TierClock:
    """Wall time and test count per tier over a run (a test in two tiers counts in both; 'none' is the fast rest)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.tests: dict[str, set[str]] = defaultdict(set)
        self.tiers_of: dict[str, set[str]] = {}

    def collected(self, items: list[pytest.Item]) -> None:
        self.tiers_of = {item.nodeid: item_tiers(item) or {"none"} for item in items}

    def add(self, report: pytest.TestReport) -> None:
        for tier in self.tiers_of.get(report.nodeid, {"none"}):
            self.seconds[tier] += report.duration
            self.tests[tier].add(report.nodeid)

    def lines(self) -> list[str]:
        order = sorted(self.seconds, key=lambda t: -self.seconds[t])
        return [f"{tier:<12} {len(self.tests[tier]):>4} tests  {self.seconds[tier] / 60:6.1f} min" for tier in order]
