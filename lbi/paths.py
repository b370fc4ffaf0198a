"""Where lbi's own files are: the repository's root and the bundled demo data (`data/demo`).

A leaf module (standard library only), so any layer may ask for a data path without importing the demos.
"""

from __future__ import annotations

from pathlib import Path


def repo_root() -> Path:
    """The repository's root: the folder that holds ``lbi/`` (and ``data/``, ``.venv-trac``)."""
    return Path(__file__).resolve().parent.parent


def demo_data_dir() -> Path:
    """``data/demo`` of the repository: ``trac/seed_trac.py``, ``tasks/*.jsonl``, ``sql/schema.md``,
    ``desktop/documents/``, ``repo/bugs.toml`` and the coding demo's sdist."""
    return repo_root() / "data" / "demo"
