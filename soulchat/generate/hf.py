"""The ``hf`` generator: the fine-tuned model, batched sampling with the KV cache.

Inputs are encoded exactly as training saw them (:func:`soulchat.corpus.format.encode_input`,
oldest whole turns dropped to fit ``corpus.max_input_tokens``), sorted by length and cut into
batches of ``generate.batch_size``; each batch is left-padded (so every row's next token sits at
the same position) and sampled with the KV cache by :func:`soulchat.generate.sampling.decode`
(temperature, top-k, top-p, ``max_new_tokens``). Each sample draws from its own random stream, seeded
by ``seed`` and its id (:func:`row_seed`), so its reply does not depend on ``generate.batch_size``, the
length sort, the other samples, or where an interrupted run resumed (on the same hardware; a batch's
float sums may differ from one row's in the last bits).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterator, Sequence

from omegaconf import OmegaConf

from soulchat.errors import ConfigError, MissingInput

log = logging.getLogger(__name__)


def row_seed(seed: int, sample_id: str) -> int:
    """The random stream of one sample: from the run's seed and the sample's id, nothing else."""
    import hashlib

    return int.from_bytes(hashlib.sha256(f"{seed}\0{sample_id}".encode()).digest()[:8], "little") >> 1


def pick_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def pick_dtype(name: str, device: str) -> Any:
    import torch

    if name == "auto":
        if device.startswith("cuda") and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ConfigError(f"generator.dtype={name!r}; expected auto, float32, bfloat16 or float16") from None


def length_batches(lengths: Sequence[int], batch_size: int, sort: bool = True) -> list[list[int]]:
    """Indices grouped into batches, longest first when ``sort`` (ties keep input order)."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i]) if sort else list(range(len(lengths)))
    return [order[i:i + batch_size] for i in range(0, len(order), max(1, batch_size))]


class HFGenerator:
    """Samples replies from a Hugging Face causal LM folder.

    Args:
        model_dir: a folder ``AutoModelForCausalLM`` / ``AutoTokenizer`` load (train's ``hf/``).
        max_input_tokens: the input budget (as in training).
        max_history_turns: earlier turns kept in an input (as in training; None: all).
        max_new_tokens, top_p, temperature, top_k: sampling (the paper: top-p 0.75, temperature
            0.95; top-k 50 is Hugging Face's default, kept by ChatGLM-6B's ``chat``).
        batch_size: rows per ``generate`` call.
        seed: base seed; sample ``id`` draws from the stream ``row_seed(seed, id)``.
        device, dtype, sort_by_length, cudnn_attention: see
            :class:`soulchat.generate.components.HFGeneratorConfig`.
        trust_remote_code: for families that ship their modelling code (``model.trust_remote_code``).

    Raises:
        FileNotFoundError: ``model_dir`` has no model (the train stage did not finish).
    """

    def __init__(self, model_dir: str | Path, max_input_tokens: int | None, max_new_tokens: int,
                 top_p: float, temperature: float, batch_size: int, seed: int, device: str = "auto",
                 dtype: str = "auto", sort_by_length: bool = True, top_k: int = 50,
                 trust_remote_code: bool = False, cudnn_attention: bool = False,
                 max_history_turns: int | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = Path(model_dir)
        if not (model_dir / "config.json").exists():
            raise MissingInput(f"no Hugging Face model in {model_dir} (config.json missing): "
                                    "run the train stage first, or point generate at a finished one")
        self.model_dir = model_dir
        self.device = pick_device(device)
        remote = {"trust_remote_code": bool(trust_remote_code), "local_files_only": True}
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, **remote)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=pick_dtype(dtype, self.device), **remote)
        self.model.to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.max_input_tokens = max_input_tokens
        self.max_history_turns = max_history_turns  # as in training (corpus.max_history_turns)
        self.max_new_tokens, self.top_p, self.temperature = int(max_new_tokens), float(top_p), float(temperature)
        self.batch_size, self.seed, self.sort_by_length = int(batch_size), int(seed), bool(sort_by_length)
        self.top_k, self.cudnn_attention = int(top_k), bool(cudnn_attention)
        self.new_tokens = 0  # real tokens generated so far (eos and padding excluded)

    def settings(self) -> dict[str, Any]:
        return {"generator": "hf", "model": str(self.model_dir), "top_p": self.top_p,
                "temperature": self.temperature, "top_k": self.top_k, "max_new_tokens": self.max_new_tokens,
                "max_input_tokens": self.max_input_tokens, "batch_size": self.batch_size, "seed": self.seed}

    def encode(self, sample: dict) -> list[int]:
        from soulchat.corpus.format import encode_input

        return encode_input(self.tokenizer, sample["history"], self.max_input_tokens, self.max_history_turns)

    def generate_ids(self, inputs: Sequence[Sequence[int]], seed: int, on_step: Any = None,
                     seeds: Sequence[int] | None = None, **sampling: Any) -> list[list[int]]:
        """Sample continuations for a batch of input id lists (left-padded); new ids, eos cut off.

        ``seeds``: each row's random stream (default ``seed`` + its index); ``on_step`` streams each
        step's tokens (:func:`soulchat.generate.sampling.decode`); ``sampling`` overrides
        ``max_new_tokens``, ``temperature``, ``top_k``, ``top_p`` for this batch.
        """
        from soulchat.generate.prefill import left_pad
        from soulchat.generate.sampling import decode
        from soulchat.model.attention import cudnn_attention

        ids, mask = left_pad(inputs, self.pad_id)
        seeds = [seed + r for r in range(len(inputs))] if seeds is None else seeds
        with cudnn_attention(self.cudnn_attention):
            s = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_k": self.top_k,
                 "top_p": self.top_p, **sampling}
            out = decode(self.model, ids.to(self.device), mask.to(self.device), s["max_new_tokens"],
                         self.tokenizer.eos_token_id, self.pad_id, s["temperature"], s["top_k"], s["top_p"],
                         on_step=on_step, seeds=seeds)
        new = out.tolist()
        eos = self.tokenizer.eos_token_id
        new = [row[:row.index(eos)] if eos in row else row for row in new]
        self.new_tokens += sum(map(len, new))
        return new

    def generate(self, samples: Sequence[dict], done: set[str] = frozenset()) -> Iterator[list[tuple[dict, str]]]:
        """Yield each finished batch as ``[(sample, reply), ...]``, skipping samples in ``done``."""
        encoded = [self.encode(s) for s in samples]
        for batch in length_batches([len(e) for e in encoded], self.batch_size, self.sort_by_length):
            if all(samples[i]["id"] in done for i in batch):
                continue
            new = self.generate_ids([encoded[i] for i in batch], self.seed,
                                    seeds=[row_seed(self.seed, samples[i]["id"]) for i in batch])
            replies = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            yield [(samples[i], reply.strip()) for i, reply in zip(batch, replies) if samples[i]["id"] not in done]


def build(cfg: Any, root: Any, model_dir: Path | None) -> HFGenerator:
    """``generator=hf`` for the composed config ``root`` and the train stage's ``hf/`` folder."""
    if model_dir is None:
        raise ConfigError("generator=hf needs the train stage's model (generator.uses_trained_model=true)")
    g = root.generate
    return HFGenerator(model_dir, root.corpus.max_input_tokens, g.max_new_tokens, g.top_p, g.temperature,
                       g.batch_size, root.seed, cfg.device, cfg.dtype, cfg.sort_by_length, g.top_k,
                       bool(OmegaConf.select(root, "model.trust_remote_code", default=False)), cfg.cudnn_attention,
                       root.corpus.max_history_turns)
