"""``corpus.export``: the clean corpus in other trainers' formats, one folder per format.

``export/<format>/`` holds ``<split>.jsonl`` (each dialogue through the reader's ``export``), the
files a trainer loads it by where the reader gives them (``export_index``: LLaMA-Factory's
``dataset_info.json`` for ``llama_factory`` and ``sharegpt``) and a dataset card, ``README.md``:
the source, the cleaning, the counts per split, the format, the source's licence, the intended use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from soulchat.corpus.split import SPLITS
from soulchat.corpus.stats import md_table
from soulchat.io import write_json, write_jsonl

INTENDED_USE = (
    "Research on supportive, empathetic counselling dialogue models, as in the SoulChat paper: fine-tuning and "
    "evaluating them. It is not a substitute for professional care: a model trained on it must not be presented "
    "as a counsellor, and conversations with people in crisis need a human professional. The dialogues passed "
    "the filters under Cleaning but were not reviewed by hand.")


def check(names: Sequence[str], readers: dict[str, Any]) -> None:
    """Raises ``ValueError`` when a name in ``corpus.export`` is not a reader that can write its format."""
    writable = sorted(n for n, r in readers.items() if hasattr(r, "export"))
    if set(names) - set(writable):
        raise ValueError(f"corpus.export={list(names)}: {sorted(set(names) - set(writable))} cannot be "
                         f"written; readers that can: {writable}")


def write_exports(out: Path, names: Sequence[str], readers: dict[str, Any], dialogues: Sequence[dict],
                  splits: Sequence[str], stats: dict[str, Any], licence: str) -> list[Path]:
    """Write ``out/export/<name>/`` for each name (see the module docstring); returns the cards."""
    cards = []
    for name in names:
        reader, folder = readers[name], out / "export" / name
        counts = {s: write_jsonl(folder / f"{s}.jsonl", (reader.export(d) for d, sp in zip(dialogues, splits) if sp == s))
                  for s in SPLITS}
        index = reader.export_index({s: f"{s}.jsonl" for s in SPLITS if counts[s]}) if hasattr(reader, "export_index") else {}
        for file_name, content in index.items():
            write_json(folder / file_name, content)
        cards.append(folder / "README.md")
        cards[-1].write_text(card(name, reader, counts, dialogues, splits, stats, licence, index), encoding="utf-8")
    return cards


def card(name: str, reader: Any, counts: dict[str, int], dialogues: Sequence[dict], splits: Sequence[str],
         stats: dict[str, Any], licence: str, index: dict[str, Any]) -> str:
    """The dataset card (README.md) of one exported format."""
    from soulchat.registry import registry

    read = stats["read"]
    replies = {s: 0 for s in SPLITS}
    for d, s in zip(dialogues, splits):
        replies[s] += sum(m["role"] == "assistant" for m in d["messages"])
    sources = sorted({str(d.get("source")) for d in dialogues})
    cleaning = [["reading (unreadable records)", read["records"], read["errors"]],
                ["dialogues left empty by cleaning", "–", read["cleaned"]["empty_dialogues"]]]
    cleaning += [[f"filter `{f['filter']}`", f["seen"], f["rejected"]] for f in stats["filters"]]
    doc = registry().families["reader"][name].doc
    lines = [
        f"# Counselling dialogues: soulchat corpus export, `{name}` format", "",
        "## Source", "",
        f"Read from `{read['source']}` as `{read['format']}` ({read['records']} records); the dialogues' `source` "
        f"field: {', '.join(f'`{s}`' for s in sources)}. Built by soulchat's corpus stage "
        "(`python -m soulchat stages=[corpus] corpus.source=... corpus.export=[...]`).", "",
        "## Cleaning", "",
        md_table(["step", "seen", "removed"], cleaning), "",
        f"{read['cleaned']['empty_utterances']} empty utterances were dropped; the split keeps a source question's "
        "dialogues together." + (" The `privacy` filter masks or drops phone numbers, e-mail addresses, ID-card "
                                 "numbers and QQ / WeChat ids." if any(f["filter"] == "privacy" for f in stats["filters"])
                                 else ""), "",
        "## Splits", "",
        md_table(["split", "file", "dialogues", "counsellor replies"],
                 [[s, f"`{s}.jsonl`", counts[s], replies[s]] for s in SPLITS]), "",
        "## Format", "",
        f"{doc}. One JSON line per dialogue; roles are the user (client) and the counsellor; there is no system "
        "prompt.", *_loading(index), "",
        "## Licence", "",
        licence.strip() or "Not stated (`corpus.licence`): this export carries the licence and terms of its "
                           "source; check them before sharing or publishing it.", "",
        "## Intended use", "", INTENDED_USE, ""]
    return "\n".join(lines)


def _loading(index: dict[str, Any]) -> list[str]:
    info = index.get("dataset_info.json")
    if not info:
        return []
    return ["", f"`dataset_info.json` describes the files for LLaMA-Factory: point its `dataset_dir` at this "
                f"folder and name the datasets ({', '.join(f'`{k}`' for k in info)}), e.g. "
                f"`dataset: {next(iter(info))}`."]
