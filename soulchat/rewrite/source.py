"""Read single-turn Q&A in PsyQA's layout: one question, its description, several answers.

Accepted: JSON Lines (optionally gzipped) or one JSON array (PsyQA's own release), records like::

    {"questionID": 1, "question": "...", "description": "...", "keywords": "...",
     "answers": [{"answer_text": "..."}, ...]}

``id`` may replace ``questionID``; an answer may be a plain string. Each answer is one :class:`QA`
(the paper rewrote 619,725 answers to 215,813 questions); its id is the question's id when the
question has one answer, ``<id>-<k>`` (1-based) when it has several.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Optional

from soulchat.io import InputError, open_text, read_jsonl
from soulchat.rewrite.prompts import QA


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    with open_text(path) as fh:
        head = fh.read(1).lstrip() or fh.read(64).lstrip()[:1]
    if head == "[":
        try:
            with open_text(path) as fh:
                data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise InputError(path, exc.lineno, None, f"not valid JSON ({exc.msg})") from None
        yield from ((i, rec) for i, rec in enumerate(data, 1))
    else:
        yield from read_jsonl(path)


def _text(path: Path, n: int, rec: dict, name: str) -> str:
    value = rec.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(path, n, name, f"must be text, got {type(value).__name__}")
    return value.strip()


def read_qa(path: str | Path, limit: Optional[int] = None) -> list[QA]:
    """Every answer of every question in ``path`` as a :class:`QA` (the first ``limit`` of them).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        InputError: a record without a question or answers, or a field of the wrong type (names
            the file, the line or record number, and the field).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"rewrite.source {path} does not exist; point rewrite.source at a "
                                f"PsyQA-layout file (question, description, answers)")
    out: list[QA] = []
    for n, rec in _records(path):
        if not isinstance(rec, dict):
            raise InputError(path, n, None, "a record must be a JSON object with question and answers")
        qid = rec.get("id", rec.get("questionID"))
        if qid is None:
            raise InputError(path, n, "id", "missing: give each question an id (or questionID)")
        question = _text(path, n, rec, "question")
        if not question:
            raise InputError(path, n, "question", "missing or empty")
        description = _text(path, n, rec, "description")
        if description and description not in question:
            question = question + description
        answers = rec.get("answers")
        if not isinstance(answers, list) or not answers:
            raise InputError(path, n, "answers", "must be a non-empty list of answers")
        topic = rec.get("topic") or ""
        for k, ans in enumerate(answers, 1):
            text = ans.get("answer_text") if isinstance(ans, dict) else ans
            if not isinstance(text, str) or not text.strip():
                raise InputError(path, n, f"answers[{k - 1}].answer_text", "missing or empty")
            item_id = str(qid) if len(answers) == 1 else f"{qid}-{k}"
            out.append(QA(item_id, question, text.strip(), str(topic)))
            if limit is not None and len(out) >= limit:
                return out
    return out
