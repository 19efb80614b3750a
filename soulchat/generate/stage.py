"""The generate stage: the chosen generator answers every test input.

Reads the corpus stage's ``test.jsonl`` (``{id, dialogue_id, history, input, reference}``), or
``generate.test_file``: any dialogue file a corpus reader knows (the paper's zero-shot SMILECHAT
column), expanded into one sample per counsellor reply that follows a user message. Writes into
its folder:

- ``predictions.jsonl``: ``{id, dialogue_id, test_set, model, input, reference, prediction,
  settings}``, appended batch by batch as they are produced; an interrupted run resumes after the
  last complete line (a torn last line is dropped);
- ``generate_info.json``: the test set's name, the model's label, the settings, counts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from soulchat import progress
from soulchat.errors import ConfigError, MissingInput
from soulchat.io import InputError, JsonlAppender, read_jsonl, subset, write_json
from soulchat.model.components import family
from soulchat.registry import build
from soulchat.stage import Stage

log = logging.getLogger(__name__)

SAMPLE_FIELDS = ("id", "history", "reference")


def samples_from_dialogues(dialogues: list[dict]) -> list[dict]:
    """One test sample per counsellor reply that directly follows a user message."""
    from soulchat.corpus.format import render_input

    out = []
    for d in dialogues:
        msgs = d["messages"]
        for a in range(1, len(msgs)):
            if msgs[a]["role"] == "assistant" and msgs[a - 1]["role"] == "user":
                hist = msgs[:a]
                out.append({"id": f"{d['id']}#{a}", "dialogue_id": d["id"], "topic": d.get("topic"),
                            "history": hist, "input": render_input(hist), "reference": msgs[a]["content"]})
    return out


def read_test_file(cfg: Any, path: str, fmt: str = "auto") -> list[dict]:
    """Dialogues of any supported format -> test samples.

    Raises:
        FileNotFoundError: no such file.
        InputError: the format is not recognised, or a record is bad (file, line, field).
    """
    from soulchat.corpus.readers.base import build_readers, detect

    if not Path(path).exists():
        raise MissingInput(f"generate.test_file={path!r} does not exist")
    readers = build_readers(cfg.corpus.reader)  # corpus.reader's options apply to its reader here too
    name = detect(path, readers) if fmt == "auto" else fmt
    if name not in readers:
        raise ConfigError(f"generate.test_format={fmt!r} is not a reader; valid: auto, {sorted(readers)}")
    dialogues = []
    for item in readers[name].read(path):
        if item.error is not None:
            raise item.error
        dialogues.append(item.dialogue)
    log.info("generate: %d dialogues from %s (format %s)", len(dialogues), path, name)
    return samples_from_dialogues(dialogues)


def read_corpus_test(path: Path) -> list[dict]:
    """The corpus stage's ``test.jsonl``. Raises ``InputError`` for a record missing a field."""
    samples = []
    for line, rec in read_jsonl(path):
        for f in SAMPLE_FIELDS:
            if not isinstance(rec, dict) or f not in rec:
                raise InputError(path, line, f, "missing; test.jsonl comes from the corpus stage (re-run it)")
        samples.append(rec)
    return samples


def finished_ids(path: Path) -> set[str]:
    """Ids already in ``predictions.jsonl``; a torn (unparsable) last line is cut off."""
    if not path.exists():
        return set()
    import json

    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    done, good = set(), 0
    for n, line in enumerate(lines):
        try:
            done.add(json.loads(line)["id"])
            good += len(line.encode("utf-8"))
        except (ValueError, KeyError, TypeError):
            if n != len(lines) - 1:
                raise InputError(path, n + 1, None, "not a prediction record; delete the stage's .partial folder") from None
            log.warning("generate: dropping a torn last line of %s", path)
            with open(path, "r+b") as fh:
                fh.truncate(good)
    return done


def model_label(cfg: Any) -> str:
    """How the report names this model: the API model, or ``<model>+<finetune>``."""
    if not cfg.generator.get("uses_trained_model", True):
        return str(cfg.generator.get("model", cfg.generator.name))
    label = f"{family(cfg.model)}+{cfg.finetune.name}"
    return f"{label} (untrained)" if OmegaConf.select(cfg, "train.max_steps", default=1) == 0 else label


def run(ctx: Any) -> dict[str, float]:
    cfg, g = ctx.cfg, ctx.cfg.generate
    if g.test_file:
        samples = read_test_file(cfg, g.test_file, g.test_format)
        test_set = g.test_name or Path(g.test_file).name.split(".")[0]
    else:
        samples = read_corpus_test(Path(ctx.inputs["corpus"]) / "test.jsonl")
        test_set = g.test_name or "corpus"
    samples = subset(samples, g.max_samples, int(cfg.seed))
    if not samples:
        raise ConfigError("generate: the test set has no samples (a counsellor reply after a user message)")
    model_dir = Path(ctx.inputs["train"]) / "hf" if "train" in ctx.inputs else None
    generator = build("generator", cfg.generator, cfg, model_dir)
    settings, label = generator.settings(), model_label(cfg)
    out = Path(ctx.out) / "predictions.jsonl"
    done = finished_ids(out)
    log.info("generate: %d samples of %s with %s; %d already done", len(samples), test_set, label, len(done))

    t0, produced, chars = time.perf_counter(), 0, 0
    with JsonlAppender(out) as sink, progress.bar(total=len(samples), initial=len(done & {s["id"] for s in samples}),
                                                  desc=f"generate ({label})", unit=" replies") as bar:
        for batch in generator.generate(samples, done):
            for s, reply in batch:
                sink.write({"id": s["id"], "dialogue_id": s.get("dialogue_id"), "test_set": test_set, "model": label,
                            "input": s.get("input"), "reference": s["reference"], "prediction": reply,
                            "settings": settings})
                produced += 1
                chars += len(reply)
            bar.update(len(batch))
    seconds = time.perf_counter() - t0
    total = len(finished_ids(out))
    write_json(Path(ctx.out) / "generate_info.json",
               {"test_set": test_set, "model": label, "settings": settings, "samples": total})
    if ctx.tracker is not None and g.log_samples:
        import json

        head = out.read_text(encoding="utf-8").splitlines()[: int(g.log_samples)]
        ctx.tracker.log_text("\n".join(json.dumps({k: rec[k] for k in ("id", "input", "reference", "prediction")},
                                                  ensure_ascii=False) for rec in map(json.loads, head)) + "\n",
                             "generate/predictions_sample.jsonl")
    tokens = getattr(generator, "new_tokens", None)
    extra = {"tokens_per_s": tokens / seconds} if tokens and seconds else {}
    return {"samples": total, "generated": produced, "seconds": seconds, **extra,
            "replies_per_s": produced / seconds if seconds else 0.0,
            "mean_reply_chars": chars / produced if produced else 0.0}


def prompt_tokenizer(cfg: Any) -> Any:
    """The content of ``generator.tokenizer`` when completions prompts are cut with it (else None:
    ``model``'s tokenizer is keyed through the corpus stage's key)."""
    gen = cfg.generator
    from soulchat.generate.openai import is_completions

    path = gen.get("tokenizer") if is_completions(gen) else None
    if not path:
        return None
    from soulchat.model.tokenizer import tokenizer_identity

    try:
        return tokenizer_identity(OmegaConf.create({"path": str(path), "tokenizer": {"path": None}}))
    except MissingInput:
        raise MissingInput(f"generator.tokenizer={path}: no tokenizer files there (tokenizer.json, "
                           "tokenizer.model, vocab.*, ...); point it at the served model's folder") from None


#: the stage's declaration (registered in soulchat/generate/components.py): an API model (the
#: paper's ChatGPT column) needs no fine-tuned weights
STAGE = Stage(
    "generate", run,
    inputs=lambda c: ("corpus", "train") if c.generator.get("uses_trained_model", True) else ("corpus",),
    config_keys=("generate", "generator", "seed", "corpus.reader"), files=lambda c: (c.generate.test_file,),
    families=("generator", "model"), identity=prompt_tokenizer)
