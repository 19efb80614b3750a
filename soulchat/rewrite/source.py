"""Single-turn Q&A for the rewrite, read with the corpus area's PsyQA reader.

PsyQA's layout, in JSON Lines or a JSON array (optionally gzipped), Parquet, Arrow / Feather, or a
``datasets.save_to_disk`` folder (the corpus readers' raw I/O, :mod:`soulchat.corpus.readers.files`)::

    {"id": "...", "question": "...", "description": "...", "keywords": "...", "topic": "...",
     "answers": [{"answer_text": "..."}, ...]}

Each answer is one :class:`QA` (the paper rewrote 619,725 answers to 215,813 questions); the user's
text is the question followed by its description. Ids are the reader's: the question's id when it
has one answer, ``<id>-<j>`` (0-based) when it has several.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from soulchat.corpus.readers.base import ReaderConfig
from soulchat.corpus.readers.psyqa import PsyQAReader
from soulchat.rewrite.prompts import QA


def read_qa(path: str | Path, limit: Optional[int] = None) -> tuple[list[QA], list[dict]]:
    """The first ``limit`` answers in ``path`` as :class:`QA`, and the records that could not be read.

    A bad record does not stop the run: it comes back as ``{"path", "line", "row", "field", "reason"}``
    (``row``: the 0-based index of a table's row or a JSON array's record, where there are no lines;
    the stage writes it to ``invalid.jsonl``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"rewrite.source {path} does not exist; point rewrite.source at a "
                                f"PsyQA-layout file (question, description, answers)")
    qas: list[QA] = []
    bad: list[dict] = []
    for item in PsyQAReader(ReaderConfig(name="psyqa", source="psyqa")).read(path):
        if item.error is not None:
            err = item.error
            bad.append({"path": err.path, "line": err.line, "row": getattr(err, "row", None), "field": err.field,
                        "reason": str(err)})
            continue
        d = item.dialogue
        qas.append(QA(d["id"], d["messages"][0]["content"], d["messages"][1]["content"], d.get("topic") or "",
                      str(d.get("group") or "")))
        if limit is not None and len(qas) >= limit:
            break
    return qas, bad
