"""lbi workbench entry point: project picker, your name, and navigation. Run with `make run`."""

import streamlit as st

from lbi import ui

st.set_page_config(page_title="lbi workbench", page_icon=":material/explore:", layout="wide")

with st.sidebar:
    ui.project_dir()
    ui.who()
    st.text_input(
        "Project directory", key="project_dir", help="A directory made by `lbi init` (holds lbi.toml and lbi.db)."
    )
    st.text_input("Your name", key="who", help="Recorded with your overrides and instruction edits.")

page = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/docs.py", title="Docs", icon=":material/menu_book:"),
        st.Page("pages/rollouts.py", title="Rollouts", icon=":material/movie:"),
        st.Page("pages/backward.py", title="Backward", icon=":material/grid_on:"),
        st.Page("pages/committee.py", title="Committee", icon=":material/gavel:"),
        st.Page("pages/review.py", title="Review", icon=":material/rate_review:"),
        st.Page("pages/clusters.py", title="Clusters", icon=":material/hub:"),
        st.Page("pages/retrieval.py", title="Retrieval lab", icon=":material/travel_explore:"),
        st.Page("pages/evaluation.py", title="Evaluation", icon=":material/leaderboard:"),
        st.Page("pages/dataset.py", title="Dataset", icon=":material/dataset:"),
    ]
)
page.run()
