"""Shared fixtures of the environment tests (loaded with ``pytest_plugins``).

Real things only: one Chromium for the session, one seeded Trac demo on a free port, two
small local HTTP servers (an allowed site and a forbidden one that logs every request).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.tiers import starts

if TYPE_CHECKING:  # imported where used: collecting the tests starts nothing
    from lbi.envs.desktop.env import DesktopEnv
    from lbi.envs.desktop.session import DesktopSession
    from lbi.envs.web.trac_env import TracWebEnv
    from lbi.envs.web.trac_server import TracDemo

INDEX = """<!doctype html><html><head><title>Home</title></head><body>
<h1>Test home</h1>
<p>Welcome to the <b>test</b> site.</p>
<a id="to-page2" href="page2.html">Second page</a>
<a id="newtab" href="page2.html" target="_blank">Second page in a new tab</a>
<a id="evil" href="{forbidden}/secret.html">Forbidden site</a>
<a id="file" href="file:///etc/passwd">Local file</a>
<form id="f" onsubmit="event.preventDefault(); document.getElementById('out').textContent =
  'submitted ' + document.getElementById('name').value;">
  <label for="name">Your name</label> <input id="name" type="text">
  <label for="color">Colour</label>
  <select id="color"><option value="r">red</option><option value="g">green</option>
  <option value="b">blue</option></select>
  <label><input id="agree" type="checkbox"> I agree</label>
  <textarea id="notes" placeholder="Notes"></textarea>
  <button id="go" type="button" onclick="document.getElementById('out').textContent =
    'Hello ' + document.getElementById('name').value + ', ' +
    document.getElementById('color').selectedOptions[0].textContent + ', agree=' +
    document.getElementById('agree').checked;">Greet</button>
</form>
<p id="out">nothing yet</p>
<div style="height: 3000px">tall</div>
<p>Bottom of the page</p>
</body></html>"""

PAGE2 = """<!doctype html><html><head><title>Second</title></head><body>
<h1>Page two</h1><p>This is page two.</p><a href="index.html">Home</a></body></html>"""


@dataclass
class Site:
    """The allowed site and the forbidden one (whose request log must stay empty)."""

    url: str
    forbidden_url: str
    forbidden_log: list[str] = field(default_factory=list)


def _serve(root: Path, log: list[str] | None = None) -> tuple[http.server.HTTPServer, str]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            if log is not None:
                log.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    bad_root = tmp_path_factory.mktemp("forbidden")
    (bad_root / "secret.html").write_text("<title>Secret</title>SECRET")
    log: list[str] = []
    bad, bad_url = _serve(bad_root, log)
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(INDEX.format(forbidden=bad_url))
    (root / "page2.html").write_text(PAGE2)
    good, good_url = _serve(root)
    yield Site(good_url + "/index.html", bad_url, log)
    good.shutdown()
    bad.shutdown()


@pytest.fixture(scope="session")
@starts("browser")
def browser() -> Iterator[object]:
    from lbi.envs.web.env import BrowserSession

    session = BrowserSession()
    yield session
    session.close()


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo")


@pytest.fixture(scope="session")
@starts("trac")
def trac_demo(demo_dir: Path) -> Iterator[TracDemo]:
    from lbi.envs.web.trac_server import TracDemo

    with TracDemo(demo_dir) as demo:
        yield demo


@pytest.fixture(scope="session")
def trac_env(trac_demo: TracDemo, browser: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracWebEnv]:
    from lbi.envs.web.trac_env import TracWebEnv

    env = TracWebEnv(trac_demo, browser=browser, screenshot_dir=tmp_path_factory.mktemp("screenshots"))
    yield env
    env.close()


@pytest.fixture(scope="session")
@starts("trac")  # builds the pristine Trac environment with trac-admin
def demo_db(demo_dir: Path) -> Path:
    from lbi.envs.web.trac_server import ensure_pristine

    return ensure_pristine(demo_dir) / "db" / "trac.db"


@pytest.fixture(scope="session")
@starts("desktop")
def desktop_session() -> Iterator[DesktopSession]:
    """One desktop (Xvfb, openbox, the accessibility bus, the worker) shared by the session's desktop envs."""
    from lbi.envs.desktop.session import DesktopSession

    with DesktopSession() as session:
        yield session


@pytest.fixture(scope="session")
def desktop_env(desktop_session: DesktopSession, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DesktopEnv]:
    """LibreOffice Calc on the shared desktop, screenshots on."""
    from lbi.envs.desktop.env import DesktopEnv

    env = DesktopEnv(session=desktop_session, screenshot_dir=tmp_path_factory.mktemp("desktop-shots"))
    yield env
    env.close()
