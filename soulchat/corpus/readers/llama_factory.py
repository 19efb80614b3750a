"""LLaMA-Factory (alpaca) ``{"instruction", "input", "output", "history": [[user, reply], ...]}``;
also written by ``corpus.export``, with the ``dataset_info.json`` LLaMA-Factory loads it by."""

from __future__ import annotations

from soulchat.corpus.readers.base import Reader
from soulchat.corpus.readers.files import Peek
from soulchat.corpus.readers.records import dialogue, field
from soulchat.io import InputError

#: LLaMA-Factory's alpaca column roles (its data/README.md) -> our column names; without ``history``
#: LLaMA-Factory drops the earlier turns without a word
COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system", "history": "history"}


class LlamaFactoryReader(Reader):
    """LLaMA-Factory (alpaca) ``{"instruction", "input", "output", "history": [[user, reply], ...]}``."""

    priority = 0

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and "instruction" in p.record and "output" in p.record

    def convert(self, rec, path, line, index):
        instruction = field(rec, "instruction", str, path, line)
        history = rec.get("history") or []
        if not isinstance(history, list) or not all(isinstance(h, list) and len(h) == 2 for h in history):
            raise InputError(path, line, "history", "must be a list of [user, reply] pairs")
        pairs = [p for u, a in history for p in (("user", u), ("assistant", a))]
        query = instruction + (("\n" + rec["input"]) if rec.get("input") else "")
        pairs += [("user", query), ("assistant", rec.get("output"))]
        return [dialogue(pairs, path=path, line=line, rid=self._id(rec, path, line, index), source=self.source,
                         topic=rec.get("topic"), where="history+instruction+output")]

    def export(self, d: dict) -> dict:
        msgs = d["messages"]
        history = [[msgs[i]["content"], msgs[i + 1]["content"]] for i in range(0, len(msgs) - 2, 2)]
        return {"instruction": msgs[-2]["content"], "input": "", "output": msgs[-1]["content"], "system": "",
                "history": history, "id": d["id"], "topic": d.get("topic")}

    def export_index(self, files: dict[str, str]) -> dict:
        """LLaMA-Factory's ``dataset_info.json``: one dataset ``soulchat_<split>`` per exported file."""
        return {"dataset_info.json": {f"soulchat_{split}": {"file_name": name, "formatting": "alpaca",
                                                            "columns": dict(COLUMNS)}
                                      for split, name in files.items()}}
