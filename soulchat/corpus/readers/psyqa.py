"""Single-turn long Q&A in PsyQA's layout (``question, description, keywords, answers``); the
rewrite stage reads its source with this reader too."""

from __future__ import annotations

from soulchat.corpus.readers.base import Reader
from soulchat.corpus.readers.files import Peek
from soulchat.corpus.readers.records import dialogue, field
from soulchat.io import InputError


class PsyQAReader(Reader):
    """Single-turn long Q&A (PsyQA): each answer becomes a one-turn dialogue ``<id>-<answer index>``
    whose ``group`` is the question's id (the split keeps a question's answers together). An empty
    question or answer is a read error here: it leaves no Q&A pair (the rewrite reads pairs)."""

    priority = 20

    def detect(self, p: Peek) -> bool:
        return isinstance(p.record, dict) and "question" in p.record and isinstance(p.record.get("answers"), list)

    def convert(self, rec, path, line, index):
        question = field(rec, "question", str, path, line).strip()
        answers = field(rec, "answers", list, path, line)
        if not answers:
            raise InputError(path, line, "answers", "no answers")
        user = question + (rec.get("description") or "").strip()
        rid, out = self._id(rec, path, line, index), []
        for j, ans in enumerate(answers):
            text = ans.get("answer_text") if isinstance(ans, dict) else ans
            d = dialogue([("user", user), ("assistant", text)], path=path, line=line,
                         rid=rid if len(answers) == 1 else f"{rid}-{j}", source=self.source,
                         topic=rec.get("topic"), where=f"answers[{j}]", drop_empty=False)
            d["group"] = rid
            out.append(d)
        return out
