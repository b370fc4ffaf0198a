"""docs/envs.md tells the truth about each env's options (the documentation test of lbi/ checks the actions
and check kinds)."""

from __future__ import annotations

import re

import pytest

from lbi.envs.registry import BUILTIN_MODULES, builtin_spec
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "envs.md").read_text()


@pytest.mark.parametrize("module", BUILTIN_MODULES.values())
def test_every_option_of_every_builtin_env_is_documented(module: str) -> None:
    spec = builtin_spec(module)
    row = re.search(rf"^\| `{spec.name}` \| (.+) \|$", DOC, re.M)
    assert row, f"docs/envs.md has no options row for {spec.name}"
    documented = set(re.findall(r"`(\w+)`", row.group(1)))
    if spec.name == "trac":  # "the browser options of `web`": those are in the web row
        web = re.search(r"^\| `web` \| (.+) \|$", DOC, re.M)
        assert web, "docs/envs.md has no options row for web"
        documented |= set(re.findall(r"`(\w+)`", web.group(1)))
    missing = set(spec.options.model_fields) - documented - {"screenshot_dir"}
    assert not missing, f"options of {spec.name} missing from docs/envs.md: {sorted(missing)}"
    assert "screenshot_dir" in DOC
