"""Reading observations: action targets, the site's chrome, and how prompts and the index use them."""

from lbi.observations import chrome_lines, compact_outline, describe_action, fit_outline, page_content, place
from lbi.project import Project
from lbi.prompts.messages import render_steps
from lbi.store import read
from lbi.use.index import Index

NAV = 'list\n  [1] link "Wiki" url="/wiki"\n  [2] link "View Tickets" url="/report"\n[3] button "Search"'


def page(body: str) -> str:
    return f"{NAV}\n{body}"


def test_describe_action_names_the_element_it_acted_on() -> None:
    obs = page('[14] link "wiki:" url="/wiki"\n[field-summary] textbox "Summary"')
    assert describe_action("click('14')", obs) == 'click(\'14\') on link "wiki:" url="/wiki"'
    assert describe_action("fill('field-summary', 'x')", obs) == "fill('field-summary', 'x') on textbox \"Summary\""
    assert describe_action("click('99')", obs) == "click('99')"  # unknown id: the action as it was
    # BrowserGym's MiniWoB++ link: no name of its own, its text below it (deeper), then the page's text
    bgym = "RootWebArea 'Click Link Task'\n\t[13] generic, clickable=True\n\t\tStaticText 'sed'\n"
    bgym += "\t\t\tInlineTextBox 'sed'\n\tStaticText 'massa sed'\n\t[14] textbox '', clickable=True"
    assert describe_action("click('13')", bgym) == "click('13') on generic, clickable=True, text 'sed'"
    assert describe_action("fill('14', 'x')", bgym) == "fill('14', 'x') on textbox '', clickable=True"
    assert describe_action("go_back()", obs) == "go_back()"
    assert describe_action("SELECT 1", None) == "SELECT 1"


def test_chrome_is_what_most_distinct_pages_share() -> None:
    pages = [(f"http://127.0.0.1:{8000 + n}/ticket/{n}", page(f'heading "Ticket #{n}"')) for n in range(6)]
    # one page visited fifty times must not make its own text chrome
    pages += [("http://127.0.0.1:9999/wiki", page('heading "Welcome to Trac"'))] * 50
    chrome = chrome_lines(pages)
    assert '[1] link "Wiki" url="/wiki"' in chrome and "list" in chrome
    assert 'heading "Welcome to Trac"' not in chrome and 'heading "Ticket #3"' not in chrome
    assert chrome_lines(pages[:4]) == frozenset()  # too few places to tell
    assert place("http://127.0.0.1:8123/wiki/Start?x=1") == "/wiki/Start?x=1"


def test_page_content_drops_chrome_and_never_reads_empty() -> None:
    chrome = chrome_lines((f"/p{n}", page(f"text {n}")) for n in range(5))
    assert page_content(page('heading "Roadmap"\n  milestone1'), chrome) == 'heading "Roadmap" milestone1'
    assert page_content(NAV, chrome) == " ".join(line.strip() for line in NAV.splitlines())
    assert page_content(page("x" * 900), chrome, limit=100) == "x" * 100


def test_prompts_show_page_content_and_action_targets() -> None:
    steps = [
        {
            "url": f"http://127.0.0.1:5000/p{n}",
            "observation": page(f'[9] link "Open {n}"'),
            "action": "click('9')",
            "error": None,
        }
        for n in range(5)
    ]
    chrome = chrome_lines((s["url"], s["observation"]) for s in steps)
    text = render_steps(steps, chrome=chrome)
    assert "View Tickets" not in text  # the navigation is not repeated on every step
    assert "Step 3: page /p3" in text and "click('9') on link \"Open 3\"" in text


def test_index_embeds_steps_without_chrome_and_learns_it_once(sql_project: Project) -> None:
    store = sql_project.store
    run = store.start_run("walk", "rollout")
    urls = ["/a", "/b", "/c", "/d", "/e"]
    tid, _ = store.begin_trajectory("k0", run_id=run, env="sql", policy="explore", status="running")
    for i, url in enumerate(urls):
        store.add_step(tid, i, observation=page(f"content of {url}"), action="click('1')", url=url)
    store.finish_trajectory(tid, status="done", final={"observation": "done"})
    ex = store.add_examples(
        [
            {
                "trajectory_id": tid,
                "span_start": 0,
                "span_end": 4,
                "instruction": "walk about",
                "mode": "per-span",
                "model": "fake",
            }
        ]
    )[0]
    store.add_override(ex, "keep", who="tester")
    index = Index(sql_project)
    assert index.sync().steps_added == 5
    assert index.chrome == read.page_chrome(store) and index.chrome
    docs = index.steps.get(include=["documents"])["documents"]
    assert docs is not None and sorted(docs) == sorted(f"content of {u}" for u in urls)
    again = Index(sql_project)  # a new process reads the same chrome back
    assert again.chrome == index.chrome and again.sync().steps_added == 0
    assert again.observation_text(page("content of /c")) == "content of /c"


TICKET = """heading level=1
  [1] link "LBI Demo"
list
  listitem
    [7] link "Wiki" url="/wiki"
heading "Add dark mode" level=1
table
  row
    cell "Priority:"
    cell
      [23] link "minor" url="/query?priority=minor"
  row
    cell "Component:"
StaticText "Offer a dark colour scheme that follows the OS preference."
form
  [field-priority] combobox "Priority:" selected="minor"
    options: "major", "minor"
  LabelText "Action"
  [submit] button "Submit changes\""""


def test_the_agent_sees_every_element_of_a_compact_outline() -> None:
    compact = compact_outline(TICKET)
    assert compact.splitlines() == [
        '[1] link "LBI Demo"',
        '[7] link "Wiki"',
        "# Add dark mode",
        'Priority: | [23] link "minor"',
        "Component:",
        "Offer a dark colour scheme that follows the OS preference.",
        '[field-priority] combobox "Priority:" selected="minor"',
        'options: "major", "minor"',
        "Action",
        '[submit] button "Submit changes"',
    ]
    assert len(compact) < 0.6 * len(TICKET)


def test_a_long_outline_loses_text_before_elements() -> None:
    long = compact_outline(TICKET.replace("Offer a dark", "Offer a dark " + "very " * 400))
    fitted = fit_outline(long, 400)
    assert len(fitted) <= 400 and "[submit]" in fitted and "[field-priority]" in fitted
    assert "Offer a dark very very" in fitted and fitted.count("very") < 40  # the text was shortened, not dropped
    no_text = fit_outline(long, 250)
    assert "Offer" not in no_text and "options:" in no_text and "[submit]" in no_text  # the text line went first
    assert fit_outline(long, 80).endswith("… (truncated)")  # too many elements: only then is the end cut
    assert fit_outline(TICKET, 10_000) == TICKET
