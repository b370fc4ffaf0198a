"""lbi workbench entry point: project picker and navigation. Run with `make run`."""

import streamlit as st

from lbi import ui

st.set_page_config(page_title="lbi workbench", page_icon="🧭", layout="wide")

with st.sidebar:
    ui.project_dir()
    st.text_input("Project directory", key="project_dir",
                  help="A directory made by `lbi init` (holds lbi.toml and lbi.db).")

page = st.navigation([
    st.Page("pages/overview.py", title="Overview", icon="📊", default=True),
])
page.run()
