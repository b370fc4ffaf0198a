"""The action parser: model text in, typed action or a clear error out."""

from __future__ import annotations

import pytest

from lbi.envs.actions import Action, ActionParseError, action_pattern, matches_pattern, parse_action
from lbi.envs.desktop.env import DESKTOP_ACTIONS
from lbi.envs.shell import SHELL_ACTIONS
from lbi.envs.sql import SQL_ACTIONS
from lbi.envs.web.actions import WEB_ACTIONS


@pytest.mark.parametrize(
    "text, expected",
    [
        ("click('12')", Action("click", ("12",))),
        ("click(12)", Action("click", ("12",))),
        ('fill("field-summary", "Crash on save")', Action("fill", ("field-summary", "Crash on save"))),
        ("fill(bid='a1', value='x')", Action("fill", ("a1", "x"))),
        ("select_option('7', ['a', 'b'])", Action("select_option", ("7", ["a", "b"]))),
        ("scroll(0, 300)", Action("scroll", (0.0, 300.0))),
        ("go_back()", Action("go_back", ())),
        ("stop()", Action("stop", ("",))),
        ("```python\nclick('3')\n```", Action("click", ("3",))),
        ("Action: goto('/report/1')", Action("goto", ("/report/1",))),
        ("I will open the ticket page.\nclick('5')", Action("click", ("5",))),
        ('The ticket exists.\nsend_msg_to_user("It is\n#21")', Action("send_msg_to_user", ("It is\n#21",))),
    ],
)
def test_parses_web_actions(text: str, expected: Action) -> None:
    got = parse_action(text, WEB_ACTIONS)
    assert (got.name, got.args) == (expected.name, expected.args)
    assert got.raw == text


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty action"),
        ("   ", "empty action"),
        ("explode('1')", "unknown action 'explode'"),
        ("click(", "could not parse"),
        ("click('1'", "could not parse"),
        ("click()", "missing 'bid'"),
        ("click('1', '2')", "takes 1 argument"),
        ("fill('1', value=3)", "value must be str"),
        ("click(bid=x)", "literal"),
        ("click('1'); click('2')", "exactly one"),
        ("os.system('rm -rf /')", "not an action name"),
        ("please click the button", "no action found"),
        ("click('1', foo='x')", "unexpected argument"),
        ("scroll('a', 1)", "delta_x must be float"),
    ],
)
def test_rejects_with_clear_error(text: str, message: str) -> None:
    with pytest.raises(ActionParseError) as err:
        parse_action(text, WEB_ACTIONS)
    assert message in str(err.value)


def test_unexpected_keyword() -> None:
    with pytest.raises(ActionParseError, match="unexpected argument"):
        parse_action("goto(url='/x', target='_blank')", WEB_ACTIONS)


def test_round_trip_text() -> None:
    for text in ("click('12')", "fill('a', 'it\\'s')", "scroll(0, 300)", "go_back()"):
        action = parse_action(text, WEB_ACTIONS)
        assert parse_action(action.to_text(), WEB_ACTIONS) == Action(action.name, action.args, raw=action.to_text())


def test_bare_fences_for_sql_and_shell() -> None:
    sql = parse_action("```sql\nSELECT 1\n```", SQL_ACTIONS, bare=("execute_sql", ("sql",)))
    assert sql == Action("execute_sql", ("SELECT 1",), raw=sql.raw)
    sh = parse_action("```bash\nls -la\n```", SHELL_ACTIONS, bare=("run", ("bash",)))
    assert (sh.name, sh.args) == ("run", ("ls -la",))
    # a call inside the fence is still a call
    call = parse_action("```bash\nstop('x')\n```", SHELL_ACTIONS, bare=("run", ("bash",)))
    assert call.name == "stop"


def test_not_text_is_an_error() -> None:
    with pytest.raises(ActionParseError):
        parse_action(42, WEB_ACTIONS)  # type: ignore[arg-type]


def test_bid_property() -> None:
    assert parse_action("press('q', 'Enter')", WEB_ACTIONS).bid == "q"
    assert parse_action("goto('/')", WEB_ACTIONS).bid is None


# -- the action grammar -------------------------------------------------------------------------
ENV_ACTIONS = {
    "sql": SQL_ACTIONS,
    "trac": WEB_ACTIONS,
    "web": WEB_ACTIONS,
    "shell": SHELL_ACTIONS,
    "desktop": DESKTOP_ACTIONS,
}


@pytest.mark.parametrize("env", ["sql", "trac", "web", "shell", "desktop"])
def test_every_demo_reference_action_fits_its_env_pattern(env: str) -> None:
    from lbi.demos import demo_tasks

    pattern = action_pattern(ENV_ACTIONS[env])
    for task in demo_tasks(env):
        for action in task.reference:
            assert matches_pattern(action, pattern), f"{task.id}: {action!r}"


@pytest.mark.parametrize(
    "text",
    [
        "execute_sql(",
        'execute_sql("SELECT 1") and then more',
        "execute_sql('SELECT 1')execute_sql('SELECT 2')",
        "execute_sql('SELECT 'x'')",
        "execute_sql(SELECT 1)",
        "SELECT 1",
        "```sql\nSELECT 1\n```",
        "execute_sql(query='SELECT 1')",
        "stop('a\x01b')",
        "noop('soon')",
        "click('12')",
    ],
)
def test_malformed_or_foreign_sql_actions_do_not_fit(text: str) -> None:
    assert not matches_pattern(text, action_pattern(ENV_ACTIONS["sql"]))


@pytest.mark.parametrize(
    "text",
    [
        "click('12')",
        'fill("field-summary", "Crash on save")',
        "fill('text', '= Notes =\\n * one')",
        "select_option('12', ['major', 'minor'])",
        "scroll(0, -300.5)",
        "stop()",
        'stop("Ursula\'s book")',
        "noop()",
        "go_back()",
        "press('q', 'Control+a')",
    ],
)
def test_well_formed_web_actions_fit_and_parse(text: str) -> None:
    assert matches_pattern(text, action_pattern(WEB_ACTIONS))
    parse_action(text, WEB_ACTIONS)  # and what fits parses
