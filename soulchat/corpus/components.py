"""Corpus-stage components: ``reader`` formats, ``filter`` rules, ``topic`` classifiers.

One registration row per component, pointing at its class (called with its config); nothing heavy
is imported here. The contracts are :mod:`soulchat.corpus.contracts`:

- a ``reader`` (:class:`~soulchat.corpus.contracts.DialogueReader`) has ``detect(peek)``,
  ``read(path)`` yielding :class:`~soulchat.corpus.readers.records.Item` and a detection
  ``priority``; one with ``export(dialogue)`` can also be written (``corpus.export``). It is chosen
  with ``corpus/reader=<name>`` (``auto``: detected); a variant that differs only in settings is a
  YAML file in ``conf/corpus/reader/``.
- a ``filter`` (:class:`~soulchat.corpus.contracts.DialogueFilter`) is a callable
  ``filter(dialogue) -> dialogue`` that raises :class:`soulchat.corpus.filters.Reject` with the
  reason. The chain is ``corpus.filters``: a dict, in order, of these schemas
  (``corpus.filters.<key>.enabled``); a settings-only variant is a YAML file in ``conf/corpus/filter/``.
- a ``topic`` factory returns ``classifier(dialogue) -> topic name`` (:mod:`soulchat.corpus.topics`).
"""

from dataclasses import dataclass, field
from typing import Optional

from soulchat.corpus.readers.base import ReaderConfig
from soulchat.corpus.readers.text import TextReaderConfig
from soulchat.registry import ComponentConfig, Registry


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
    utterances (4-10 turns), but real corpora (SMILECHAT: 1-19 turns) are kept whole by default."""

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


def register(registry: Registry) -> None:
    from soulchat.corpus.config import CorpusConfig  # it builds the default chain from these rows

    registry.add("stage", "corpus", CorpusConfig, "soulchat.corpus.stage:STAGE")
    readers = "soulchat.corpus.readers"
    registry.add("reader", "messages", ReaderConfig, f"{readers}.messages:MessagesReader",
                 doc="OpenAI-style {messages} JSONL/JSON: canonical, SoulChatCorpus, SMILECHAT jsonl")
    registry.add("reader", "smilechat", ReaderConfig, f"{readers}.smilechat:SmilechatReader",
                 doc="SMILECHAT as released: JSON file(s) of {role, content} or 求助者/支持者 strings")
    registry.add("reader", "text", TextReaderConfig, f"{readers}.text:TextReader",
                 doc="plain text with speaker prefixes (用户：/心理咨询师：, 来访者：, CPsyCounD)")
    registry.add("reader", "psyqa", ReaderConfig, f"{readers}.psyqa:PsyQAReader",
                 doc="single-turn long Q&A (PsyQA: question, description, keywords, answers)")
    registry.add("reader", "sharegpt", ReaderConfig, f"{readers}.sharegpt:ShareGPTReader",
                 doc="ShareGPT {conversations: [{from, value}]} JSONL/JSON")
    registry.add("reader", "llama_factory", ReaderConfig, f"{readers}.llama_factory:LlamaFactoryReader",
                 doc="LLaMA-Factory alpaca records {instruction, input, output, history}")
    filters = "soulchat.corpus.filters"
    registry.add("filter", "format", FormatFilterConfig, f"{filters}:FormatFilter")
    registry.add("filter", "length", LengthFilterConfig, f"{filters}:LengthFilter")
    registry.add("filter", "turns", TurnsFilterConfig, f"{filters}:TurnsFilter")
    registry.add("filter", "sensitive", SensitiveFilterConfig, f"{filters}:SensitiveFilter")
    registry.add("filter", "privacy", PrivacyFilterConfig, f"{filters}:PrivacyFilter")
    registry.add("filter", "dedup", DedupFilterConfig, "soulchat.corpus.dedup:DedupFilter")
    registry.add("topic", "keywords", TopicConfig, "soulchat.corpus.topics:build")
