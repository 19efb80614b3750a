"""Command line: ``soulchat [subcommand]`` or the Hydra app.

``soulchat plugins`` lists components; ``soulchat ui`` opens the MLflow dashboard; ``soulchat
compare`` builds a Table-1 comparison from runs; ``soulchat score`` scores a predictions file;
``soulchat chat`` talks with a trained model in the terminal; ``soulchat serve`` serves it (OpenAI
API and a web page). Any other arguments go to the Hydra app (``soulchat +experiment=soulchat_full stages=[corpus,train]``).
"""

from __future__ import annotations

import importlib
import importlib.util
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


#: groups chosen inside a stage's section rather than at the root
NESTED = {"reader": "reader (corpus)", "filter": "filter (corpus)"}


def usage() -> str:
    """``soulchat --help``: the subcommands, the stages and the config groups a user picks from
    (what plugins registered and what YAML options exist; Hydra's internal ``schema/*`` left out)."""
    from soulchat.config import CONF_DIR
    from soulchat.registry import load_plugins

    reg = load_plugins()
    lines = ["usage: soulchat [SUBCOMMAND ...] | soulchat [group=option ...] [key=value ...]", "",
             "subcommands:"]
    for name, target in SUBCOMMANDS.items():
        doc = (importlib.util.find_spec(target.partition(":")[0]) and _first_line(target)) or ""
        lines.append(f"  {name:<9} {doc}")
    lines += ["", "stages (stages=[...]; the ones they read run first when not cached):",
              "  " + ", ".join(reg.families.get("stage", {})), "", "config groups (group=option):"]
    for family in sorted(reg.families):
        if family == "stage":
            continue
        options = set(reg.families[family])
        for folder in (CONF_DIR, *reg.config_dirs):
            options |= {p.stem for p in (folder / family).glob("*.yaml")}
        if options:
            label = NESTED.get(family, family)
            lines.append(f"  {label:<16} {', '.join(sorted(options))}")
    for group in ("experiment", "scale", "hparams_search"):
        options = sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))
        prefix = "+" if group != "scale" else ""
        lines.append(f"  {prefix + group:<16} {', '.join(options)}")
    lines += ["", "examples:", "  soulchat +experiment=soulchat_full", "  soulchat stages=[corpus,train] finetune=lora",
              "  soulchat -m +experiment=ablation_prompt      (a sweep)", "  soulchat chat | soulchat serve | soulchat ui",
              "", "more: --cfg job (the composed config), --hydra-help, docs/ in the repository"]
    return "\n".join(lines) + "\n"


def _first_line(target: str) -> str:
    """The first line of a subcommand module's docstring, read without importing it."""
    import ast

    spec = importlib.util.find_spec(target.partition(":")[0])
    if spec is None or not spec.origin:
        return ""
    doc = ast.get_docstring(ast.parse(open(spec.origin, encoding="utf-8").read())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.split(": ", 1)[1] if first.startswith("``") and ": " in first else first


def _print(text: str) -> None:
    """Print, and stay quiet when the reader went away (``soulchat --help | head``)."""
    import os

    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv in (["--help"], ["-h"], ["help"]):
        _print(usage())
        raise SystemExit(0)
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
