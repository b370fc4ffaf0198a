"""The test tiers (tests/tiers.py): markers come from the fixtures a test uses, `make test-fast` deselects every
tier, and a tier whose pieces are missing fails its tests in one line."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT
from tests.tiers import FAST, TIERS, missing

CONFTEST = """
import pytest
from tests.tiers import mark_items, require, starts

def pytest_collection_modifyitems(items):
    mark_items(items)

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    require(item)

@pytest.fixture
@starts("sandbox")
def jail():
    return "jail"

@pytest.fixture
def prisoner(jail):
    return jail + "ed"
"""

TESTS = """
import pytest

def test_plain():
    pass

def test_through_a_fixture(prisoner):
    assert prisoner == "jailed"

@pytest.mark.desktop
def test_marked_itself():
    pass
"""


def test_the_makefile_deselects_every_tier() -> None:
    makefile = (ROOT / "Makefile").read_text()
    found = re.search(r"^FAST_TIERS := (.+)$", makefile, re.M)
    assert found and found.group(1) == FAST
    assert set(TIERS) == {"browser", "trac", "desktop", "sandbox", "ray", "training", "local_model"}


def test_a_fixture_marks_every_test_that_uses_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    fast = pytester.runpytest_inprocess("-m", FAST, "-p", "no:cacheprovider")
    fast.assert_outcomes(passed=1, deselected=2)
    sandbox = pytester.runpytest_inprocess("-m", "sandbox", "-p", "no:cacheprovider")
    sandbox.assert_outcomes(passed=1, deselected=2)


def test_a_missing_piece_fails_in_one_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TESTS)
    monkeypatch.setenv("PATH", str(pytester.path))  # no bwrap on it
    missing.cache_clear()
    try:
        result = pytester.runpytest_inprocess("-m", "sandbox", "-p", "no:cacheprovider")
    finally:
        missing.cache_clear()
    result.assert_outcomes(errors=1, deselected=2)
    result.stdout.fnmatch_lines(["*missing: the program bwrap (Debian package bubblewrap): run make setup*"])
    assert "Traceback" not in result.stdout.str()
