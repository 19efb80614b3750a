"""ShareGPT ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}``; also written by
``corpus.export``, with the ``dataset_info.json`` LLaMA-Factory loads it by."""

from __future__ import annotations

from soulchat import speakers
from soulchat.corpus.readers.base import Reader
from soulchat.corpus.readers.files import Peek
from soulchat.corpus.readers.records import dialogue, field

FROM = {speakers.USER: "human", speakers.ASSISTANT: "gpt"}  # ShareGPT's speaker names


class ShareGPTReader(Reader):
    """ShareGPT ``{"conversations": [{"from": "human"|"gpt", "value"}]}``."""

    priority = 10

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and isinstance(p.record.get("conversations"), list)

    def convert(self, rec, path, line, index):
        conv = field(rec, "conversations", list, path, line)
        pairs = [(m.get("from"), m.get("value")) if isinstance(m, dict) else (None, None) for m in conv]
        return [dialogue(pairs, path=path, line=line, rid=self._id(rec, path, line, index), source=self.source,
                         topic=rec.get("topic"), where="conversations")]

    def export(self, d: dict) -> dict:
        return {"id": d["id"], "topic": d.get("topic"),
                "conversations": [{"from": FROM[m["role"]], "value": m["content"]} for m in d["messages"]]}

    def export_index(self, files: dict[str, str]) -> dict:
        """LLaMA-Factory's ``dataset_info.json``: one dataset ``soulchat_<split>`` per exported file."""
        tags = {"role_tag": "from", "content_tag": "value", "user_tag": FROM[speakers.USER],
                "assistant_tag": FROM[speakers.ASSISTANT]}
        return {"dataset_info.json": {f"soulchat_{split}": {"file_name": name, "formatting": "sharegpt",
                                                            "columns": {"messages": "conversations"}, "tags": tags}
                                      for split, name in files.items()}}
