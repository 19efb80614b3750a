"""A local OpenAI-compatible server for tests and benchmarks (aiohttp, 127.0.0.1, a free port).

It speaks ``POST /v1/chat/completions``, ``POST /v1/completions`` (a raw ``prompt``; ``stop``
sequences honoured unless ``honour_stop=False``) and the batch files API (``POST /v1/files``,
``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``), and misbehaves on
request: latency, 429 with Retry-After, 5xx, 400/401, hanging past the client's timeout, dropped
connections, bodies that are not JSON, answers that are not dialogues, dialogues that break the
prompt's constraints, content filtering. Every request is logged (``server.log``). What it answers
(the default responder, the completion objects and the faults that shape them, the batch files
API) is :mod:`.llm_answers`; this module is the server: its fault plan, routes, lifecycle and log.

In a test::

    with TestServer(latency=0.01) as server:            # runs in a background thread
        server.fail_next("429", n=2)                     # the next two chat requests get 429
        ... endpoint.base_url=server.url ...
        assert server.count() == 3

As its own process (benchmarks): ``python -m soulchat.testing.llm_server --latency 0.2`` prints
``URL http://127.0.0.1:<port>/v1`` and serves until killed; ``GET /_stats`` returns the counts
(``?since=N``: and the arrival times of the chat requests from the N-th on).

Fault kinds (``fail_next(kind)`` or ``faults={kind: probability}``): ``429``, ``500``, ``503``,
``400``, ``401``, ``404`` (an unknown model), ``timeout``, ``drop``, ``close`` (answered, then the connection is
closed without a ``Connection: close``), ``garbage`` (a 200 whose body is not JSON), ``malformed``
(an answer that is not a dialogue), ``short`` (a 2-utterance dialogue), ``meta`` (a dialogue
followed by a remark about the rewrite), ``content_filter``; ``ok`` queues a normal answer
(to aim a later fault at a given request). With ``models`` set, a request for any other model is
answered 404 ``model_not_found``, as OpenAI, vLLM and Ollama do.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Optional

from aiohttp import web

from soulchat.generate.openai import cut_at_stop
from soulchat.testing.llm_answers import BatchFiles, Responder, completion, default_responder

__all__ = ["FAULTS", "LogEntry", "Responder", "TestServer", "default_responder", "main"]
FAULTS = ("429", "500", "503", "400", "401", "404", "timeout", "drop", "close", "garbage", "malformed", "short",
          "meta", "content_filter", "ok")


@dataclass
class LogEntry:
    """One request the server received."""

    n: int
    path: str
    body: Any
    fault: Optional[str]
    status: int = 0
    start: float = 0.0
    end: Optional[float] = None  # None: the response was never finished (dropped, hung, killed)


@dataclass
class TestServer:
    """An OpenAI-compatible server on 127.0.0.1 (see the module docstring).

    Args:
        latency: seconds every chat request waits before answering.
        responder: body -> answer text (default: :func:`default_responder`).
        faults: kind -> probability, drawn per chat request with ``seed``.
        retry_after: the Retry-After header (seconds) sent with 429s.
        hang_s: how long a ``timeout`` fault hangs.
        port: 0 picks a free port.
        models: the models it serves (None: any).
        honour_stop: cut answers at the request's ``stop`` sequences (False: a server that ignores them).
        keepalive_s: seconds an idle kept-alive connection stays open (None: aiohttp's default, an hour;
            uvicorn, which vLLM uses, closes them after 5).
    """

    __test__ = False  # not a pytest class

    latency: float = 0.0
    responder: Responder = default_responder
    faults: dict = field(default_factory=dict)
    retry_after: float = 1.0
    hang_s: float = 30.0
    seed: int = 0
    port: int = 0
    keep_bodies: bool = True
    models: Optional[tuple] = None
    honour_stop: bool = True
    keepalive_s: Optional[float] = None
    log: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self._queue: deque[str] = deque()
        self._rng = random.Random(self.seed)
        self._batch = BatchFiles(self.completion, self._record)
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._runner: Optional[web.AppRunner] = None

    # -- control ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL for ``endpoint.base_url`` (ends in /v1)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def fail_next(self, kind: str, n: int = 1) -> None:
        """Make the next ``n`` chat requests fail with ``kind`` (one of :data:`FAULTS`)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {FAULTS}")
        with self._lock:
            self._queue.extend([kind] * n)

    def count(self, path: str = "/v1/chat/completions", fault: Any = "any") -> int:
        """Requests received on ``path`` (only those with ``fault`` unless "any"; None = clean)."""
        return sum(1 for e in list(self.log) if e.path == path and (fault == "any" or e.fault == fault))

    def overrides(self, **extra: Any) -> list[str]:
        """Hydra overrides pointing ``endpoint`` at this server: no recordings, fast retries, no
        rate or cost limits (set the env var ``OPENAI_API_KEY`` to anything)."""
        values = {"base_url": self.url, "recorded": "[]", "backoff_s": 0.01, "max_backoff_s": 0.1,
                  "timeout_s": 5.0, "rpm": "null", "tpm": "null", "max_cost": "null", **extra}
        return ["endpoint=openai"] + [f"endpoint.{k}={v}" for k, v in values.items()]

    def endpoint(self, store: Any, **extra: Any) -> Any:
        """An ``endpoint`` config (DictConfig) for this server, as :meth:`overrides`, storing in ``store``."""
        from omegaconf import OmegaConf

        from soulchat.llm.components import EndpointConfig

        fields = {"name": "openai", "base_url": self.url, "recorded": [], "backoff_s": 0.01,
                  "max_backoff_s": 0.1, "timeout_s": 5.0, "store": str(store), **extra}
        return OmegaConf.structured(EndpointConfig(**fields))

    def chat_bodies(self, path: str = "/v1/chat/completions") -> list[dict]:
        """The bodies received on ``path`` (``/v1/completions`` for text completions)."""
        return [e.body for e in list(self.log) if e.path == path]

    # -- serving ----------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._chat)  # the body's ``prompt`` picks the answer's shape
        self._batch.add_routes(app)
        app.router.add_get("/_stats", self._stats)
        return app

    async def start_async(self) -> None:
        kept = {} if self.keepalive_s is None else {"keepalive_timeout": float(self.keepalive_s)}
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=0.5, **kept)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> "TestServer":
        """Serve from a background thread; returns once the port is open."""
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self.start_async())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())  # type: ignore[union-attr]
            pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
            for task in pending:  # handlers still hanging (timeout faults)
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="llm-test-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> "TestServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- handlers ---------------------------------------------------------------------------------

    def _record(self, path: str, body: Any) -> None:
        """Log a request answered at once (the batch files API's)."""
        now = time.time()
        self.log.append(LogEntry(len(self.log), path, body, None, 200, now, now))

    def _next_fault(self) -> Optional[str]:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        for kind, prob in self.faults.items():
            if self._rng.random() < prob:
                return kind
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        fault = self._next_fault()
        fault = None if fault == "ok" else fault
        if self.models is not None and body.get("model") not in self.models:
            fault = "404"
        entry = LogEntry(len(self.log), request.path, body if self.keep_bodies else None, fault, start=time.time())
        self.log.append(entry)
        if self.latency:
            await asyncio.sleep(self.latency)
        resp = await self._chat_response(body, fault, request)
        entry.status = resp.status
        entry.end = time.time()
        return resp

    async def _chat_response(self, body: dict, fault: Optional[str], request: web.Request) -> web.StreamResponse:
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
        if fault == "drop":
            request.transport.close()  # type: ignore[union-attr]
            raise asyncio.CancelledError()
        if fault == "404":
            err = {"error": {"message": f"The model `{body.get('model')}` does not exist", "type": "invalid_request_error",
                             "code": "model_not_found"}}
            return web.json_response(err, status=404)
        if fault in ("429", "500", "503", "400", "401"):
            headers = {"retry-after": str(self.retry_after)} if fault == "429" else {}
            err = {"error": {"message": f"test server fault {fault}", "type": "test_fault", "code": fault}}
            return web.json_response(err, status=int(fault), headers=headers)
        if fault == "close":  # as a server or proxy that drops a kept connection it did not say it would close
            resp = web.json_response(self.completion(body, None))
            await resp.prepare(request)
            await resp.write_eof()
            request.transport.close()  # type: ignore[union-attr]
            return resp
        if fault == "garbage":
            return web.Response(text="<html>bad gateway, not json", content_type="application/json")
        return web.json_response(self.completion(body, fault))

    def completion(self, body: dict, fault: Optional[str] = None) -> dict:
        """The answer object for ``body`` (:func:`.llm_answers.completion`): the responder's text, cut
        at the request's ``stop`` sequences unless ``honour_stop`` is off."""
        text: Optional[str] = self.responder(body)
        if self.honour_stop and body.get("stop"):
            stop = body["stop"]
            text = cut_at_stop(text or "", [stop] if isinstance(stop, str) else stop)
        return completion(body, text, fault, len(self.log))

    async def _stats(self, request: web.Request) -> web.Response:
        """The counts; with ``?since=N`` also ``arrivals``: when each chat request from the N-th
        logged request on arrived (seconds, this process's clock; benchmarks measure rates with it)."""
        out: dict[str, Any] = {"chat": self.count(), "clean": self.count(fault=None), "total": len(self.log)}
        if "since" in request.query:
            since = int(request.query["since"])
            out["arrivals"] = [e.start for e in self.log[since:] if e.path == "/v1/chat/completions"]
        return web.json_response(out)


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the soulchat LLM test server until killed.")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = TestServer(latency=args.latency, port=args.port, keep_bodies=False)

    async def serve() -> None:
        await server.start_async()
        print(f"URL {server.url}", flush=True)
        await asyncio.Event().wait()

    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve())


if __name__ == "__main__":
    main()
