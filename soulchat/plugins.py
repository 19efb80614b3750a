"""``soulchat plugins`` / ``python -m soulchat.plugins``: every family, component and provider."""

from __future__ import annotations

import argparse

from soulchat.registry import load_plugins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="soulchat plugins", description=__doc__)
    parser.add_argument("family", nargs="?", help="show one family only")
    args = parser.parse_args(argv)
    from rich.console import Console
    from rich.table import Table

    reg = load_plugins()
    table = Table(title="soulchat components (entry-point group soulchat.plugins)")
    for col in ("family", "component", "provided by", "description"):
        table.add_column(col)
    for family, comps in reg.families.items():
        if args.family and family != args.family:
            continue
        for name, comp in sorted(comps.items()):
            table.add_row(family, name, comp.dist, comp.doc)
    console = Console(width=160)
    console.print(table)
    if reg.config_dirs:
        console.print("config folders from plugins: " + ", ".join(map(str, reg.config_dirs)))
    for err in reg.errors:
        console.print(f"[red]plugin {err.plugin!r} from {err.dist} failed:[/red] {err.reason}")
    return 1 if reg.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
