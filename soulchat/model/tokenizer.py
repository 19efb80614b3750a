"""The tokenizer every stage uses: trained locally for the tiny model, loaded from disk otherwise.

The tiny model (``model.path`` unset) gets a byte-level BPE trained with the ``tokenizers`` library
on the bundled demo texts (``soulchat/data/demo``), so it never meets an unknown character and never
downloads anything. Training is deterministic; the result is cached under
``<cache_root>/tokenizers/<hash>/`` where the hash covers the vocabulary size, the special tokens and
the training files' contents, and is written atomically (a temporary folder renamed into place).

A real model loads its own tokenizer with ``AutoTokenizer.from_pretrained`` from local files only
(``model.tokenizer.path``, default ``model.path``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from soulchat.errors import MissingInput
from soulchat.io import read_jsonl, stable_hash

log = logging.getLogger(__name__)

DEMO_DIR = Path(__file__).resolve().parent.parent / "data" / "demo"
#: the files the tiny tokenizer learns from (the rewrite store is not text we wrote)
TRAINING_FILES = ("qa.jsonl", "dialogues.jsonl", "dialogues_smile.jsonl")
SPECIAL_TOKENS = {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}
#: strings every sample contains; repeated so that BPE learns each as whole tokens
FORMAT_STRINGS = ("用户：", "心理咨询师：", "来访者：", "求助者：", "支持者：")
TOKENIZER_VERSION = 1


def get_tokenizer(model_cfg: Any, cache_root: str | Path):
    """Return the ``PreTrainedTokenizerFast`` for ``model_cfg`` (a ``model`` config node).

    Args:
        model_cfg: has ``path`` (None for the tiny model), ``tokenizer.vocab_size``,
            ``tokenizer.path`` and optionally ``trust_remote_code``.
        cache_root: ``paths.cache``; the tiny tokenizer is stored in ``<cache_root>/tokenizers/``.

    Raises:
        FileNotFoundError: a configured tokenizer folder does not exist.
    """
    tok_cfg = model_cfg.tokenizer
    path = tok_cfg.get("path") if hasattr(tok_cfg, "get") else getattr(tok_cfg, "path", None)
    path = path or model_cfg.path
    if path:
        return load_pretrained(path, bool(getattr(model_cfg, "trust_remote_code", False)))
    return tiny_tokenizer(int(tok_cfg.vocab_size), cache_root)


#: files that define a Hugging Face tokenizer (weights and model config are not among them)
TOKENIZER_FILES = ("tokenizer*", "vocab*", "merges.txt", "special_tokens_map.json", "added_tokens.json",
                   "*.model", "*.tiktoken", "tokenization_*.py", "qwen.tiktoken")


def tokenizer_identity(model_cfg: Any) -> dict[str, str]:
    """What makes a tokenizer the one it is, without loading it: the content of a real tokenizer's
    files, or the tiny tokenizer's training recipe. Two configs with the same identity tokenize alike.

    Raises:
        FileNotFoundError: a configured tokenizer folder does not exist (named with its setting).
    """
    tok_cfg = model_cfg.tokenizer
    path = tok_cfg.get("path") or model_cfg.get("path")
    if not path:
        return {"tiny": _tiny_key(int(tok_cfg.vocab_size), DEMO_DIR)}
    folder = Path(path)
    files = sorted({f for pattern in TOKENIZER_FILES for f in folder.glob(pattern) if f.is_file()})
    if not files:
        setting = "model.tokenizer.path" if tok_cfg.get("path") else "model.path"
        raise MissingInput(f"{setting}={path}: no tokenizer files there (tokenizer.json, "
                                f"tokenizer.model, vocab.*, ...); point it at a Hugging Face model folder")
    return {"files": _files_digest(files)}


IDENTITY_FILE = "tokenizer_identity.json"


def _record(model_cfg: Any) -> dict[str, str]:
    """The identity plus, for messages, where the tokenizer was."""
    path = model_cfg.tokenizer.get("path") or model_cfg.get("path")
    return {**tokenizer_identity(model_cfg), **({"path": str(Path(path).resolve())} if path else {})}


def write_identity(out: str | Path, model_cfg: Any) -> None:
    """Record in a corpus folder which tokenizer made its token ids (checked by the train stage)."""
    (Path(out) / IDENTITY_FILE).write_text(json.dumps(_record(model_cfg), indent=2), encoding="utf-8")


def describe(identity: dict[str, str]) -> str:
    """One phrase naming a tokenizer identity, for messages."""
    if "tiny" in identity:
        return f"the tiny tokenizer (recipe {identity['tiny']})"
    return f"the tokenizer in {identity.get('path', '?')} (files {identity['files']})"


def check_corpus_tokenizer(corpus_dir: str | Path, model_cfg: Any) -> None:
    """Refuse a corpus whose token ids come from another tokenizer than the model's.

    Raises:
        SoulchatError: the corpus names another tokenizer (or none), with both named.
    """
    from soulchat.errors import SoulchatError

    record = Path(corpus_dir) / IDENTITY_FILE
    wanted = _record(model_cfg)
    have = json.loads(record.read_text(encoding="utf-8")) if record.exists() else None
    if have is None or {k: have.get(k) for k in wanted if k != "path"} != {k: v for k, v in wanted.items() if k != "path"}:
        found = describe(have) if have else "an unrecorded tokenizer"
        raise SoulchatError(f"the corpus {corpus_dir} was tokenized with {found}, but the model uses "
                            f"{describe(wanted)}; rebuild it: stages=[corpus,train] corpus.force=true")


def load_pretrained(path: str | Path, trust_remote_code: bool = False):
    """``AutoTokenizer.from_pretrained`` on a local folder (never the hub)."""
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise MissingInput(f"tokenizer folder {path} does not exist; set model.path (or "
                                f"model.tokenizer.path) to a local Hugging Face model folder")
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True, trust_remote_code=trust_remote_code)
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token  # batching needs a pad id; the labels mask it out anyway
    return tok


def _files_digest(files: list[Path]) -> str:
    """A content hash of ``files`` (names and bytes), remembered while none of them changes."""
    return _digest(tuple((f, f.stat().st_mtime_ns, f.stat().st_size) for f in files))


@functools.lru_cache(maxsize=64)
def _digest(files: tuple[tuple[Path, int, int], ...]) -> str:
    h = hashlib.sha256()
    for f, _, _ in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def training_texts(files: list[Path]) -> Iterator[str]:
    """Every text field of the demo files, in file order (deterministic)."""
    for s in FORMAT_STRINGS:
        yield from (s,) * 50
    for f in files:
        for _, rec in read_jsonl(f):
            if "messages" in rec:
                yield from (m["content"] for m in rec["messages"])
            else:
                yield from (rec.get(k, "") for k in ("question", "description"))
                yield from (a.get("answer_text", "") for a in rec.get("answers", []))


def _tiny_key(vocab_size: int, data_dir: str | Path) -> str:
    """The tiny tokenizer's recipe: version, vocabulary, special and format strings, training texts."""
    files = [Path(data_dir) / f for f in TRAINING_FILES]
    return stable_hash({"v": TOKENIZER_VERSION, "vocab": vocab_size, "special": SPECIAL_TOKENS,
                        "format": FORMAT_STRINGS, "data": _files_digest(files)})


def tiny_tokenizer(vocab_size: int, cache_root: str | Path, data_dir: str | Path = DEMO_DIR):
    """Train (or load from the cache) the tiny model's byte-level BPE tokenizer."""
    from transformers import PreTrainedTokenizerFast

    files = [Path(data_dir) / f for f in TRAINING_FILES]
    key = _tiny_key(vocab_size, data_dir)
    folder = Path(cache_root) / "tokenizers" / key
    if not (folder / "tokenizer.json").exists():
        log.info("training the tiny tokenizer (vocab %d) into %s", vocab_size, folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=folder.parent))
        try:
            _train(files, vocab_size).save_pretrained(str(tmp))
            try:
                os.replace(tmp, folder)
            except OSError:  # another process finished first; keep theirs
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return PreTrainedTokenizerFast.from_pretrained(str(folder))


def _train(files: list[Path], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_texts(files), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=1 << 20, **SPECIAL_TOKENS)
