"""lbi's web env on pages that act through `div`s with click listeners (no role, no onclick attribute): the
element gets a bid and can be clicked, on a page of the suite and on a third-party one (MiniWoB++'s START overlay,
from PyPI's miniwob package, served on loopback)."""

from __future__ import annotations

import re

from lbi.envs.web.env import BrowserSession, WebEnv


def test_a_div_with_a_click_listener_gets_a_bid(browser: BrowserSession) -> None:
    from tests.envs.browsergym.bgym_tasks import BASE_URL

    with WebEnv(BASE_URL + "type-word.html", browser=browser) as env:
        obs = env.reset()
        assert '[cover] button "START"' in obs.text
        after = env.step("click('cover')")
        assert after.last_action_error is None and "START" not in after.text
        assert re.search(r'\[word\] textbox "Word"', after.text)


def test_miniwob_start_overlay_is_clickable(browser: BrowserSession) -> None:
    from lbi.envs.browsergym.bridge import ensure_miniwob_url

    url = ensure_miniwob_url() + "click-test-2.html"
    with WebEnv(url, browser=browser) as env:
        obs = env.reset()
        assert re.search(r'\[sync-task-cover\] button "START"', obs.text), obs.text
        after = env.step("click('sync-task-cover')")
        buttons = [e for e in env.elements if e["role"] == "button"]
        assert after.last_action_error is None and len(buttons) >= 2, after.text  # the task's two buttons
