"""A slow guard screen (guard=llm waiting on its endpoint) runs off the server's event loop: other
requests are answered meanwhile."""

import json
import threading
import time
import urllib.request

from chat_support import serving

from soulchat.testing.llm_server import TestServer

KEY = "sk-guard-off-loop-1a2b3c"
SLOW_S = 2.0


def test_a_slow_llm_screen_does_not_hold_other_requests(random_hf):
    with TestServer(responder=lambda body: json.dumps({"category": "none", "reason": "ok"}), latency=SLOW_S) as llm, \
            serving([str(random_hf), "guard=llm", f"guard.base_url={llm.url}", "guard.timeout_s=10",
                     "generate.max_new_tokens=4"], env={"OPENAI_API_KEY": KEY}) as (url, *_):
        done = {}

        def chat():
            body = json.dumps({"messages": [{"role": "user", "content": "最近睡得不太好"}]}).encode()
            req = urllib.request.Request(f"{url}/v1/chat/completions", body, {"Content-Type": "application/json"})
            t0 = time.monotonic()
            with urllib.request.urlopen(req, timeout=60) as resp:
                done["status"], done["s"] = resp.status, time.monotonic() - t0

        worker = threading.Thread(target=chat)
        worker.start()
        while llm.count() == 0:  # the screen's request has reached the LLM: the screen is waiting
            time.sleep(0.02)
        t0 = time.monotonic()
        with urllib.request.urlopen(f"{url}/health", timeout=30) as resp:
            assert resp.status == 200
        health_s = time.monotonic() - t0
        worker.join(60)
        assert done["status"] == 200 and done["s"] >= SLOW_S  # the chat did wait on its screen
        assert health_s < SLOW_S / 2, f"/health waited {health_s:.2f} s behind a screen"
