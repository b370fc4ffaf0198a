"""BrowserGym tasks registered by the test suite, over pages served on loopback (no network).

``lbitest.type-word``: a page in the MiniWoB++ manner, whose "START" overlay is a ``div`` with a click handler
(no role, no ``onclick`` attribute); behind it a text box and a Submit button. The goal, stated at reset, asks to
type a word chosen by the seed; ``validate`` reads what was submitted. ``lbitest.broken-setup`` raises in
``setup``. Importing this module (the env option ``imports``) registers both and starts the server.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

from browsergym.core.registration import register_task
from browsergym.core.task import AbstractBrowserTask

WORDS = ("apple", "river", "stone", "cloud", "maple", "tiger", "lemon", "piano")
PAGE = """<!doctype html><html><head><title>Type a word</title><style>
#cover {position: absolute; inset: 0; background: #ddd; display: flex; align-items: center;
        justify-content: center; font: bold 24px sans-serif; cursor: pointer}
</style></head><body>
<div id="cover">START</div>
<div id="area"><label for="word">Word</label> <input id="word" type="text">
<button id="go">Submit</button><p id="result"></p></div>
<script>
document.getElementById('cover').addEventListener('click', e => e.target.remove());
document.getElementById('go').addEventListener('click', () => {
  window.SUBMITTED = document.getElementById('word').value;
  document.getElementById('result').textContent = 'Submitted: ' + window.SUBMITTED;
});
</script></body></html>"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _serve() -> str:
    root = Path(mkdtemp(prefix="lbitest-bgym-"))
    (root / "type-word.html").write_text(PAGE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/"


BASE_URL = _serve()


class TypeWordTask(AbstractBrowserTask):
    @classmethod
    def get_task_id(cls) -> str:
        return "lbitest.type-word"

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.word = WORDS[seed % len(WORDS)]
        self.slow_mo, self.timeout = 0, 5000

    def setup(self, page: Any) -> tuple[str, dict[str, Any]]:
        page.goto(BASE_URL + "type-word.html")
        return f'Start the task, then type "{self.word}" in the Word box and submit it.', {"word": self.word}

    def validate(self, page: Any, chat_messages: list[dict[str, Any]]) -> tuple[float, bool, str, dict[str, Any]]:
        submitted = page.evaluate("() => window.SUBMITTED === undefined ? null : window.SUBMITTED")
        if submitted is None:
            return 0.0, False, "", {"submitted": None}
        return float(submitted == self.word), True, "", {"submitted": submitted}


class BrokenSetupTask(TypeWordTask):
    @classmethod
    def get_task_id(cls) -> str:
        return "lbitest.broken-setup"

    def setup(self, page: Any) -> tuple[str, dict[str, Any]]:
        raise RuntimeError("the task's server is down")


register_task(TypeWordTask.get_task_id(), TypeWordTask)
register_task(BrokenSetupTask.get_task_id(), BrokenSetupTask)
