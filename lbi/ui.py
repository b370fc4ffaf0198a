"""Helpers shared by the Streamlit pages: the current project, escaped text. Pages stay thin."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from lbi.config import ConfigError
from lbi.project import Project, open_project

DEFAULT_PROJECT = os.environ.get("LBI_PROJECT", "projects/demo")


@st.cache_resource(show_spinner=False)
def _open(path: str, mtime: float) -> Project:
    return open_project(Path(path))


def project_dir() -> str:
    return st.session_state.setdefault("project_dir", DEFAULT_PROJECT)


def current_project() -> Project | None:
    """The project picked in the sidebar, or None (with an error shown) if it cannot be opened."""
    path = Path(project_dir())
    config = path / "lbi.toml"
    try:
        return _open(str(path), config.stat().st_mtime if config.exists() else 0.0)
    except ConfigError as exc:
        st.error(str(exc))
        return None


def text(value: object) -> None:
    """Show text from documents, pages or models as plain text: never rendered as HTML or Markdown."""
    st.text(str(value) if value is not None else "")
