"""Command line: ``soulchat [subcommand]`` or the Hydra app.

``soulchat plugins`` lists components; ``soulchat ui`` opens the MLflow dashboard; ``soulchat
compare`` builds a Table-1 comparison from runs; ``soulchat score`` scores a predictions file;
``soulchat chat`` talks with a trained model in the terminal; ``soulchat serve`` serves it (OpenAI
API and a web page). Any other arguments go to the Hydra app (``soulchat +experiment=soulchat_full stages=[corpus,train]``).
"""

from __future__ import annotations

import importlib
import sys

#: subcommand -> "module:function(argv) -> int | None"
SUBCOMMANDS = {
    "plugins": "soulchat.plugins:main",
    "ui": "soulchat.tracking.ui:main",
    "compare": "soulchat.tracking.compare:main",
    "score": "soulchat.evaluate.cli:main",
    "batch": "soulchat.rewrite.batch:main",
    "chat": "soulchat.chat.terminal:main",
    "serve": "soulchat.serve.cli:main",
}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module, _, func = SUBCOMMANDS[argv[0]].partition(":")
        code = getattr(importlib.import_module(module), func)(argv[1:])
        raise SystemExit(code or 0)
    from soulchat.config import setup
    from soulchat.tracking.secrets import refuse_secret_overrides

    refuse_secret_overrides(argv)  # `endpoint.api_key=...`: exit 2 naming the key, before Hydra echoes it
    from soulchat.tracking.redact import install_console_redaction

    install_console_redaction()  # a bug's traceback that quotes a key is printed masked
    setup()
    from soulchat.app import main as hydra_main

    # The root's defaults list declares `experiment: null` (so a mistyped name lists the valid
    # ones); Hydra then takes `experiment=X` but rejects an appended `+experiment=X`. Both spellings
    # are documented, so the appended one is read as the plain one.
    argv = [a[1:] if a.startswith("+experiment=") else a for a in argv]
    sys.argv = [sys.argv[0], *argv]
    hydra_main()
