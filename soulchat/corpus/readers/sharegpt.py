"""ShareGPT ``{"conversations": [{"from": "human"|"gpt"|"system", "value"}]}``; also written by ``corpus.export``."""

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
