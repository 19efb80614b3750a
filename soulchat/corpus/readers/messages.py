"""OpenAI-style ``{"messages": [{role, content}]}`` records: soulchat's canonical records,
SoulChatCorpus as released, SMILECHAT as ``{id, messages}`` lines. Also written by ``corpus.export``."""

from __future__ import annotations

from soulchat.corpus.readers.base import Reader
from soulchat.corpus.readers.files import Peek
from soulchat.corpus.readers.records import dialogue, field


class MessagesReader(Reader):
    """OpenAI-style ``{"messages": [{role, content}]}``: canonical records, SoulChatCorpus, SMILECHAT jsonl."""

    priority = 50

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and isinstance(p.record.get("messages"), list)

    def convert(self, rec, path, line, index):
        msgs = field(rec, "messages", list, path, line)
        pairs = [(m.get("role"), m.get("content")) if type(m) is dict else (None, None) for m in msgs]
        d = dialogue(pairs, path=path, line=line, rid=self._id(rec, path, line, index),
                     source=rec.get("source") or self.source, topic=rec.get("topic"))
        if isinstance(rec.get("group"), (str, int)):  # the source group the split keeps together
            d["group"] = str(rec["group"])
        return [d]

    def export(self, d: dict) -> dict:
        out = {"id": d["id"], "source": d.get("source"), "topic": d.get("topic"), "messages": d["messages"]}
        if d.get("group") is not None:
            out["group"] = d["group"]
        return out
