"""Tokenisation for the metric sets, matching the reference libraries token for token.

- :func:`words`: jieba's default (accurate, HMM) segmentation, cached, so a reference scored
  against several models is segmented once per process.
- :func:`rouge_words`: what ``rouge_chinese.Rouge`` turns a space-joined jieba string into (its
  sentence cutting and whitespace collapsing, flattened), so ROUGE here equals rouge_chinese's.
Nothing here calls nltk or rouge_chinese; the tests compare against them (``sacrebleu_zh`` calls
sacreBLEU itself).
"""

from __future__ import annotations

import re
from functools import lru_cache

from soulchat.segment import jieba


@lru_cache(maxsize=1 << 16)
def words(text: str) -> tuple[str, ...]:
    """jieba's words of ``text`` (``jieba.lcut(text)``), as a tuple."""
    return tuple(jieba().lcut(text))


# rouge_chinese.Rouge.cut_sent, applied to " ".join(words), in order
_CUT_SENT = (
    (re.compile("([。！？\\?])([^”’])"), r"\1\n\2"),
    (re.compile("(\\.{6})([^”’])"), r"\1\n\2"),
    (re.compile("(\\…{2})([^”’])"), r"\1\n\2"),
    (re.compile("([。！？\\?][”’])([^，。！？\\?])"), r"\1\n\2"),
)


def rouge_words(tokens: tuple[str, ...] | list[str]) -> list[str]:
    """The flat word list rouge_chinese scores for the text ``" ".join(tokens)``.

    rouge_chinese cuts the text into sentences, drops empty lines, collapses whitespace inside
    each, then splits every sentence on single spaces. The result is empty exactly when
    rouge_chinese would raise ``ValueError("Hypothesis is empty.")``.
    """
    para = " ".join(tokens)
    # jieba tokens are all-whitespace or whitespace-free, and 。！？? are tokens of their own, so the
    # sentence cutting changes nothing unless a line break or a run of dots is involved
    if "\n" not in para and "......" not in para:
        return para.split()
    for rx, repl in _CUT_SENT:
        para = rx.sub(repl, para)
    out: list[str] = []
    for line in para.rstrip().split("\n"):
        if line:
            out.extend(" ".join(line.split()).split(" "))
    return out


