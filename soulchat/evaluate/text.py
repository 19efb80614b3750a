"""Tokenisation for the metric sets, matching the reference libraries token for token.

- :func:`words`: jieba's default (accurate, HMM) segmentation, cached, so a reference scored
  against several models is segmented once per process.
- :func:`rouge_words`: what ``rouge_chinese.Rouge`` turns a space-joined jieba string into (its
  sentence cutting and whitespace collapsing, flattened), so ROUGE here equals rouge_chinese's.
- :func:`zh_tokens`: sacreBLEU's ``zh`` tokenizer (every CJK character on its own, the rest by the
  mteval-13a rules), including its quirky character ranges.

Nothing here calls nltk, rouge_chinese or sacrebleu; the tests compare against them.
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


# sacrebleu.tokenizers.tokenizer_zh._UCODE_RANGES, verbatim: two of them are written as 6-digit
# escapes, which Python reads as a 2-character string; comparisons with such a string are what
# sacreBLEU really does, so they are kept.
_ZH_RANGES = [
    ("\u3400", "\u4db5"), ("\u4e00", "\u9fa5"), ("\u9fa6", "\u9fbb"), ("\uf900", "\ufa2d"),
    ("\ufa30", "\ufa6a"), ("\ufa70", "\ufad9"), ("\u20000", "\u2a6d6"), ("\u2f800", "\u2fa1d"),
    ("\uff00", "\uffef"), ("\u2e80", "\u2eff"), ("\u3000", "\u303f"), ("\u31c0", "\u31ef"),
    ("\u2f00", "\u2fdf"), ("\u2ff0", "\u2fff"), ("\u3100", "\u312f"), ("\u31a0", "\u31bf"),
    ("\ufe10", "\ufe1f"), ("\ufe30", "\ufe4f"), ("\u2600", "\u26ff"), ("\u2700", "\u27bf"),
    ("\u3200", "\u32ff"), ("\u3300", "\u33ff"),
]


@lru_cache(maxsize=1)
def _zh_table() -> dict[int, str]:
    # no character above U+FFFF falls in any range (checked in the tests): a BMP table is complete
    return {cp: f" {chr(cp)} " for cp in range(0x10000) if any(lo <= chr(cp) <= hi for lo, hi in _ZH_RANGES)}

# sacrebleu.tokenizers.tokenizer_re.TokenizerRegexp
_MTEVAL = (
    (re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),
)


def zh_tokens(text: str) -> list[str]:
    """sacreBLEU's ``zh`` tokens of one segment (it strips trailing space first, as BLEU does)."""
    line = text.rstrip().strip().translate(_zh_table())
    for rx, repl in _MTEVAL:
        line = rx.sub(repl, line)
    return line.split()
