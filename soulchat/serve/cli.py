"""``soulchat serve``: the model as an OpenAI-compatible server, with a web page.

    soulchat serve                                    # the latest run's model on http://127.0.0.1:8000/
    soulchat serve outputs/cache/train/<key>/hf serve.port=8080
    SOULCHAT_API_KEY=... soulchat serve serve.host=0.0.0.0   # other machines: a bearer key is required

Prints ``soulchat serve: http://HOST:PORT/ ...`` once it accepts connections (``serve.port=0``: a free
port); stops on Ctrl-C or SIGTERM. docs/serve.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys


async def serve(app, host: str, port: int, say) -> None:
    """Run ``app`` until SIGINT / SIGTERM."""
    from aiohttp import web

    runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # before the address is announced: a stop right after it is clean
        loop.add_signal_handler(sig, stop.set)
    say(f"soulchat serve: http://{host}:{bound}/ (OpenAI API at http://{host}:{bound}/v1)")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    from soulchat.chat.model import compose, load_engine
    from soulchat.errors import SoulchatError
    from soulchat.registry import build
    from soulchat.serve.app import make_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    def say(text: str) -> None:
        print(text, flush=True)

    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        if any(a in ("-h", "--help") for a in argv):
            print(__doc__)
            return 0
        cfg, spec = compose(argv, "serve")
        s = cfg.serve
        key = os.environ.get(s.api_key_env) if s.api_key_env else None
        if s.host not in ("127.0.0.1", "localhost", "::1") and not key:
            say(f"soulchat serve: warning: serve.host={s.host} accepts other machines and no key is set "
                f"(${s.api_key_env}); anyone who reaches the port can use the model")
        engine = load_engine(cfg, spec, int(s.max_batch_size), process=True)
        guard = build("guard", cfg.guard)
    except SoulchatError as exc:
        print(f"soulchat serve: {exc}", file=sys.stderr)
        return 2
    say(f"soulchat serve: model {s.model_name} = {engine.gen.model_dir} on {engine.gen.device}"
        + (f"; bearer key required (from ${s.api_key_env})" if key else ""))
    try:
        asyncio.run(serve(make_app(cfg, engine, guard, key), s.host, int(s.port), say))
    except OSError as exc:  # the port is taken, the address is not this machine's
        print(f"soulchat serve: cannot listen on {s.host}:{s.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        engine.close()
    return 0
