"""Corpus-stage components: ``reader`` formats, ``filter`` rules, ``topic`` classifiers.

Schemas and factory strings only (nothing heavy is imported here).

- A ``reader`` factory returns an object with ``detect(path) -> bool``, ``read(path)`` yielding
  :class:`soulchat.corpus.readers.Item` and, for the formats that can be exported,
  ``export(dialogue) -> record`` (:mod:`soulchat.corpus.readers`).
- A ``filter`` factory returns a callable ``filter(dialogue) -> dialogue`` that raises
  :class:`soulchat.corpus.filters.Reject` with the reason (:mod:`soulchat.corpus.filters`). The
  chain is ``corpus.filters``: a dict, in order, of these schemas (``corpus.filters.<key>.enabled``).
- A ``topic`` factory returns ``classifier(dialogue) -> topic name`` (:mod:`soulchat.corpus.topics`).
"""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.registry import ComponentConfig, Registry


@dataclass
class ReaderConfig(ComponentConfig):
    """A dialogue file format, read into canonical records."""

    source: str = ""  # the ``source`` field given to records that have none (default: the format name)


@dataclass
class TextReaderConfig(ReaderConfig):
    """Plain-text dialogues with speaker prefixes (``用户：`` / ``心理咨询师：``, full- or half-width colon).

    A line without a known prefix continues the previous utterance; a line of ``---`` or ``===``
    ends a dialogue (so one file can hold many); a folder is read file by file.
    """

    user_speakers: list[str] = field(default_factory=lambda: ["用户", "来访者", "求助者", "User"])
    counsellor_speakers: list[str] = field(default_factory=lambda: ["心理咨询师", "咨询师", "支持者", "Psychologist"])


@dataclass
class FilterConfig(ComponentConfig):
    """A cleaning rule in the ``corpus.filters`` chain."""

    enabled: bool = True


@dataclass
class SensitiveFilterConfig(FilterConfig):
    """The paper's sensitive-string filter: a dialogue containing any of ``strings`` is rejected."""

    strings: list[str] = field(default_factory=lambda: ["我是", "自杀", "跳楼"])  # the paper's examples
    roles: list[str] = field(default_factory=lambda: ["user", "assistant"])  # whose messages are searched


@dataclass
class PrivacyFilterConfig(FilterConfig):
    """Phone numbers, e-mail addresses, ID-card numbers, QQ / WeChat ids: masked or rejected."""

    action: str = "mask"  # mask: replace with [电话] etc. | reject: drop the dialogue
    kinds: list[str] = field(default_factory=lambda: ["phone", "email", "id_card", "qq", "wechat"])


@dataclass
class FormatFilterConfig(FilterConfig):
    """Opens with the user, ends with the counsellor, roles alternate, has a counsellor reply."""

    same_role: str = "merge"  # consecutive same-role messages: merge | reject
    merge_separator: str = " "
    leading_counsellor: str = "drop"  # a dialogue opening with the counsellor: drop that message | reject
    trailing_user: str = "drop"  # a dialogue ending with the user: drop that message | reject


@dataclass
class TurnsFilterConfig(FilterConfig):
    """Bounds on turns: a turn is a user message and the counsellor's reply (the paper's "用户: ...
    心理咨询师: ..." pair, as in ``corpus.max_history_turns``). The SoulChat prompt asks for 8-20
    turns, but real corpora (SMILECHAT: 1-19 turns) are kept whole by default."""

    min_turns: int = 1
    max_turns: Optional[int] = None


@dataclass
class LengthFilterConfig(FilterConfig):
    """Bounds on utterance length in characters; a dialogue with any utterance outside is rejected."""

    min_chars: int = 1
    max_chars: Optional[int] = None


@dataclass
class DedupFilterConfig(FilterConfig):
    """Exact and near-duplicate dialogues (MinHash over character shingles); the first one is kept."""

    near: bool = True
    threshold: float = 0.8  # estimated Jaccard similarity at or above which a dialogue is a duplicate
    shingle: int = 5  # characters per shingle
    num_perm: int = 32  # MinHash signature length
    bands: int = 8  # LSH bands (num_perm must be divisible by it)
    max_chars: int = 3000  # only the first characters of a dialogue are compared


@dataclass
class TopicConfig(ComponentConfig):
    """The transparent keyword classifier over the paper's 12 topics (Appendix B).

    Each topic scores the number of its keywords found in the user's messages (the first message
    counts ``first_weight`` times); the highest score wins; no keyword at all gives ``default``.
    """

    keywords: dict[str, list[str]] = field(default_factory=dict)  # topic -> extra keywords (added to the built-in ones)
    first_weight: int = 2
    default: str = "其他"
    keep_given: bool = True  # a record that already names one of the 12 topics keeps it


#: reader name -> (schema, one line for ``soulchat plugins``)
READERS = {
    "messages": (ReaderConfig, "OpenAI-style {messages} JSONL/JSON: canonical, SoulChatCorpus, SMILECHAT jsonl"),
    "smilechat": (ReaderConfig, "SMILECHAT as released: JSON file(s) of {role, content} or 求助者/支持者 strings"),
    "text": (TextReaderConfig, "plain text with speaker prefixes (用户：/心理咨询师：, 来访者：, CPsyCounD)"),
    "psyqa": (ReaderConfig, "single-turn long Q&A (PsyQA: question, description, keywords, answers)"),
    "sharegpt": (ReaderConfig, "ShareGPT {conversations: [{from, value}]} JSONL/JSON"),
    "llama_factory": (ReaderConfig, "LLaMA-Factory alpaca records {instruction, input, output, history}"),
}
FILTERS = {
    "format": FormatFilterConfig, "length": LengthFilterConfig, "turns": TurnsFilterConfig,
    "sensitive": SensitiveFilterConfig, "privacy": PrivacyFilterConfig, "dedup": DedupFilterConfig,
}


def register(registry: Registry) -> None:
    from soulchat.corpus.config import CorpusConfig  # it imports this module (the filters' schemas)

    registry.add("stage", "corpus", CorpusConfig, "soulchat.corpus.stage:STAGE")
    for name, (schema, doc) in READERS.items():
        registry.add("reader", name, schema, "soulchat.corpus.readers:build", doc=doc)
    for name, schema in FILTERS.items():
        registry.add("filter", name, schema, "soulchat.corpus.filters:build")
    registry.add("topic", "keywords", TopicConfig, "soulchat.corpus.topics:build")
