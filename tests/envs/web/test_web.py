"""Web environment in the real Chromium against small local sites."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from lbi.envs.web.env import BrowserSession, WebEnv, origin_of, web_signature

if TYPE_CHECKING:
    from tests.envs.fixtures import Site


@pytest.fixture()
def env(site: Site, browser: BrowserSession, tmp_path: Path) -> Iterator[WebEnv]:
    with WebEnv(site.url, browser=browser, screenshot_dir=tmp_path / "shots") as web:
        web.reset(episode_id="ep")
        yield web


def test_reset_observation(env: WebEnv, site: Site) -> None:
    obs = env.reset(episode_id="ep")
    assert obs.url == site.url and obs.title == "Home" and obs.step == 0
    assert '[name] textbox "Your name" value=""' in obs.text
    assert '[color] combobox "Colour" selected="red"' in obs.text
    assert '[to-page2] link "Second page"' in obs.text
    assert obs.screenshot and Path(obs.screenshot).read_bytes()[:4] == b"\x89PNG"
    assert obs.screenshot.endswith("ep/000.png")
    assert obs.state_signature == "/index.html | Home"


def test_fill_select_check_click(env: WebEnv) -> None:
    for action in ("fill('name', 'Ada')", "select_option('color', 'green')", "check('agree')", "click('go')"):
        obs = env.step(action)
        assert obs.last_action_error is None, action
    assert "Hello Ada, green, agree=true" in obs.text
    assert obs.info["action_screenshot"].endswith("_action.png")
    assert Path(obs.info["action_screenshot"]).exists()
    obs = env.step("uncheck('agree')")
    assert '"I agree" unchecked' in obs.text or "[agree] checkbox" in obs.text
    obs = env.step("clear('name')")
    assert '[name] textbox "Your name" value=""' in obs.text


def test_an_element_out_of_view_is_boxed_where_it_is(env: WebEnv) -> None:
    """The screenshot the agent saw does not show the element (scrolled past it): the boxed copy is a new shot with
    the element scrolled into view, so the box is on the image."""
    import numpy as np
    from PIL import Image

    env.step("scroll(0, 1500)")
    obs = env.step("click('to-page2')")
    assert obs.last_action_error is None and obs.title == "Second"
    shot = Path(obs.info["action_screenshot"])
    assert shot.name == "001_view_action.png"
    with Image.open(shot) as img:
        red = int((np.asarray(img.convert("RGB")) == (230, 0, 0)).all(axis=2).sum())
    assert red > 100  # the box's outline


def test_press_focus_and_textarea(env: WebEnv) -> None:
    env.step("fill('name', 'Bob')")
    obs = env.step("press('name', 'Enter')")
    assert "submitted Bob" in obs.text
    obs = env.step("focus('notes')")
    assert obs.focused == "notes"
    obs = env.step("fill('notes', 'line one')")
    assert 'value="line one"' in obs.text


def test_scroll_goto_back_forward(env: WebEnv, site: Site) -> None:
    obs = env.step("scroll(0, 1500)")
    assert obs.info["scroll"]["y"] > 0
    obs = env.step("goto('page2.html')")
    assert obs.title == "Second" and "This is page two." in obs.text
    obs = env.step("go_back()")
    assert obs.title == "Home"
    obs = env.step("go_forward()")
    assert obs.title == "Second"
    obs = env.step("click('1')")  # the Home link has no id: a numeric bid
    assert obs.title == "Home", obs.text


def test_links_stay_in_one_tab(env: WebEnv) -> None:
    obs = env.step("click('newtab')")
    assert obs.title == "Second" and obs.last_action_error is None
    assert env.context is not None and len(env.context.pages) == 1


def test_forbidden_origin_and_file_are_blocked(env: WebEnv, site: Site) -> None:
    obs = env.step(f"goto('{site.forbidden_url}/secret.html')")
    assert "blocked" in (obs.last_action_error or "") and obs.title == "Home"
    obs = env.step("click('evil')")
    assert "blocked" in (obs.last_action_error or "")
    assert obs.title == "Home" and "SECRET" not in obs.text and not obs.done
    obs = env.step("goto('file:///etc/passwd')")
    assert "blocked" in (obs.last_action_error or "")
    obs = env.step("click('file')")
    assert obs.title == "Home" and "root:" not in obs.text
    obs = env.step("goto('http://example.com/')")
    assert "blocked" in (obs.last_action_error or "")
    assert site.forbidden_log == []  # the forbidden server never saw a request


@pytest.mark.parametrize(
    "action, error",
    [
        ("click('nope')", "no element with bid 'nope'"),
        ("fill('go', 'x')", "fill() failed"),
        ("select_option('color', 'purple')", "no option 'purple'"),
        ("select_option('name', 'x')", "not a <select>"),
        ("teleport('x')", "unknown action"),
        ("click(", "could not parse"),
    ],
)
def test_bad_actions_are_observation_errors(env: WebEnv, action: str, error: str) -> None:
    obs = env.step(action)
    assert error in (obs.last_action_error or ""), obs.last_action_error
    assert not obs.done and obs.title == "Home"
    assert env.step("click('go')").last_action_error is None  # the episode goes on


def test_stop_and_send_msg_end_the_episode(env: WebEnv) -> None:
    obs = env.step("send_msg_to_user('all done')")
    assert obs.done and obs.answer == "all done"
    obs = env.step("click('go')")
    assert obs.done and "episode is over" in (obs.last_action_error or "")


def test_reset_is_deterministic_and_clean(env: WebEnv) -> None:
    first = env.reset()
    env.step("fill('name', 'dirty')")
    env.step("goto('page2.html')")
    second = env.reset()
    assert first.text == second.text and first.state_signature == second.state_signature
    assert "no previous page" in (env.step("go_back()").last_action_error or "")


def test_interactive_elements(env: WebEnv) -> None:
    cands = {c.bid: c for c in env.interactive_elements()}
    assert cands["name"].kind == "fill" and cands["notes"].kind == "fill"
    assert cands["color"].kind == "select" and cands["color"].options == ("red", "green", "blue")
    assert cands["go"].kind == "click" and cands["go"].role == "button"
    assert cands["to-page2"].role == "link"


def test_browser_crash_ends_episode(site: Site) -> None:
    session = BrowserSession()
    env = WebEnv(site.url, browser=session)
    env.reset()
    session.browser.close()
    obs = env.step("click('go')")
    assert obs.done and "crashed" in (obs.last_action_error or "")
    env.close()
    env.close()
    session.close()


def test_signature_and_origin_helpers() -> None:
    assert origin_of("http://127.0.0.1:8000/x?y") == "http://127.0.0.1:8000"
    assert origin_of("https://Example.org/") == "https://example.org:443"
    assert origin_of("file:///etc/passwd") == "file:"
    a = web_signature("http://127.0.0.1:1234/ticket/3?utm_source=x&b=2&a=1", "#3 (Foo)")
    b = web_signature("http://127.0.0.1:9999/ticket/17?a=1&b=2", "#17 (Foo)")
    assert a == b == "/ticket/{n}?a=1&b=2 | #{n} (Foo)"
