"""The web page of ``soulchat serve`` in a real headless Chromium, driven over the DevTools protocol:
type a message, watch the reply stream in, get the crisis message for a crisis, reset. A screenshot
lands in ``outputs/serve_page.png``. Skipped where Debian's ``chromium`` is not installed."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from chat_support import REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
SHOT = REPO / "outputs" / "serve_page.png"

# every change of the newest reply bubble's text, recorded in the page (did it arrive in pieces?)
OBSERVE = """
window.__seen = [];
new MutationObserver(() => {
  const all = document.querySelectorAll('.msg.assistant');
  if (all.length) window.__seen.push(all[all.length - 1].textContent.length);
}).observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});
true"""


class Browser:
    """Headless Chromium and one page, over CDP (a websocket from aiohttp)."""

    def __init__(self, profile: Path):
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=900,1100", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert time.monotonic() < deadline and self.proc.poll() is None, "chromium did not start"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30).read())
        self.ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        self.n = 0

    async def __aenter__(self) -> "Browser":
        import aiohttp

        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(self.ws_url, max_msg_size=0)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.ws.close()
        await self.session.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)

    async def send(self, method: str, **params) -> dict:
        self.n += 1
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        while True:
            msg = json.loads((await self.ws.receive(timeout=60)).data)
            if msg.get("id") == self.n:
                assert "error" not in msg, msg
                return msg["result"]

    async def js(self, expression: str):
        res = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        assert "exceptionDetails" not in res, res
        return res["result"].get("value")

    async def until(self, expression: str, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while not (value := await self.js(expression)):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            await asyncio.sleep(0.05)
        return value

    async def type_and_send(self, text: str) -> None:
        await self.js("document.getElementById('input').focus(); true")
        await self.send("Input.insertText", text=text)
        for kind in ("keyDown", "keyUp"):
            await self.send("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                            windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)


def test_page_streams_replies_shows_crisis_message_and_resets(server, tmp_path):
    async def scenario():
        async with Browser(tmp_path / "profile") as b:
            await b.send("Page.enable")
            await b.send("Page.navigate", url=server + "/")
            await b.until("document.readyState === 'complete' && !!document.getElementById('input')")
            assert "人工智能（AI）" in await b.js("document.getElementById('disclosure').textContent")
            await b.js(OBSERVE)

            await b.type_and_send("我最近总是失眠，心里很烦。")
            await b.until("document.querySelectorAll('.msg.assistant').length === 1 "
                          "&& document.body.dataset.busy === 'false'")
            assert await b.js("document.querySelector('.msg.user').textContent") == "我最近总是失眠，心里很烦。"
            seen = await b.js("window.__seen")
            final = await b.js("document.querySelector('.msg.assistant').textContent.length")
            assert final > 0 and len({n for n in seen if 0 < n < final}) >= 1, seen  # shown before it was whole

            await b.type_and_send("我真的撑不下去了，今晚就想自杀。")
            await b.until("document.querySelectorAll('.msg.crisis').length === 1 "
                          "&& document.body.dataset.busy === 'false'")
            crisis = await b.js("document.querySelector('.msg.crisis').textContent")
            assert "12356" in crisis
            styles = await b.js("['.msg.crisis', '.msg.assistant'].map(s => "
                                "getComputedStyle(document.querySelector(s)).backgroundColor)")
            assert styles[0] != styles[1]  # set apart from the model's replies
            assert await b.js("document.querySelectorAll('.msg.assistant').length") == 1  # the model was not asked

            shot = await b.send("Page.captureScreenshot", format="png")
            SHOT.parent.mkdir(parents=True, exist_ok=True)
            SHOT.write_bytes(base64.b64decode(shot["data"]))

            await b.js("document.getElementById('reset').click(); true")
            assert await b.js("document.getElementById('messages').children.length") == 0
            await b.type_and_send("你好")
            await b.until("document.querySelectorAll('.msg.assistant').length === 1 "
                          "&& document.body.dataset.busy === 'false'")
            assert await b.js("document.querySelectorAll('.msg.user').length") == 1  # a fresh conversation

    asyncio.run(scenario())
    assert SHOT.stat().st_size > 10_000
