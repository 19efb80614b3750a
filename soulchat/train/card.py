"""The model card (``hf/README.md``) of a trained model: what it is, how it was made, how it scored,
what it is for and what it must not be used for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from soulchat.model.components import family

#: the metrics of the train stage shown in the card, with their labels
METRICS = {"val_loss": "validation loss (target tokens)", "val_loss_untrained": "validation loss before training",
           "final_train_loss": "final training loss", "steps": "optimizer steps", "total_tokens": "target tokens seen",
           "parameters": "parameters"}


def _base(cfg: Any) -> str:
    path = OmegaConf.select(cfg, "model.path")
    if path:
        return f"`{family(cfg.model)}` from `{path}`"
    return (f"`{family(cfg.model)}`: a small randomly initialised GLM (hidden size "
            f"{OmegaConf.select(cfg, 'model.hidden_size')}, {OmegaConf.select(cfg, 'model.num_layers')} layers) with a tokenizer trained on the bundled demo data, for CPU runs "
            "and tests; it learns the format, not counselling")


def _recipe(cfg: Any) -> list[str]:
    t, f = cfg.train, cfg.finetune
    tune = f"LoRA r={f.r}, alpha={f.alpha}, dropout={f.dropout} (adapter in `../adapter/`, merged here)" \
        if f.name == "lora" else "full fine-tuning"
    return [f"- {tune}; strategy `{cfg.strategy.name}`, precision `{t.precision}`",
            f"- {t.max_steps} steps, global batch {t.global_batch_size}, peak learning rate {t.lr} "
            f"({t.warmup_type} warm-up {t.warmup_steps} steps), seed {cfg.seed}",
            f"- inputs up to {cfg.corpus.max_input_tokens} tokens (oldest whole turns dropped first), "
            f"targets up to {cfg.corpus.max_target_tokens} (eos included), sample mode `{getattr(cfg.corpus.mode, 'value', cfg.corpus.mode)}`"]


def model_card(cfg: Any, metrics: dict[str, float], samples: dict[str, int], disclosure: str) -> str:
    """The card's Markdown for the run's config, its train metrics and its split sizes."""
    base = OmegaConf.select(cfg, "model.path")
    front = ["---", "language: [zh]", "library_name: transformers", "pipeline_tag: text-generation",
             "tags: [soulchat, counselling, empathy, mental-health]", *([f"base_model: {base}"] if base else []),
             "---"]
    rows = [f"| {label} | {metrics[k]:.4g} |" for k, label in METRICS.items() if k in metrics]
    sizes = ", ".join(f"{n} {split}" for split, n in samples.items())
    return "\n".join([
        *front, "",
        f"# SoulChat-style counselling model ({family(cfg.model)}, {cfg.finetune.name})", "",
        "Fine-tuned with soulchat to reproduce SoulChat (Chen et al., 2023: multi-turn "
        "empathy conversations): it answers as a counsellor (心理咨询师) to a person's (用户) messages.", "",
        "## Base model", "", _base(cfg), "",
        "## Data", "",
        f"Corpus source `{cfg.corpus.source}` (rewritten, cleaned and expanded by the soulchat pipeline); "
        f"samples: {sizes}. One sample per counsellor reply: the history before it in the paper's format, "
        "the reply as target.", "",
        "## Recipe", "", *_recipe(cfg), "",
        "## Metrics of its run", "", "| metric | value |", "|---|---|", *rows, "",
        "Generation metrics (BLEU, ROUGE, CEHS) are in the run's `report.md` and in MLflow.", "",
        "## Use", "",
        "The input is `用户：…\\n心理咨询师：…\\n…用户：…\\n心理咨询师：` (the tokenizer's `chat_template`; "
        "`apply_chat_template(messages, add_generation_prompt=True)` gives exactly what training saw). "
        "`generation_config.json` holds the paper's sampling (top-p 0.75, temperature 0.95). Serve it with "
        "`soulchat serve <this folder>` (with the crisis guard and the disclosure) or `vllm serve <this folder>`.",
        "",
        "## Intended use", "",
        "Research on empathetic dialogue, and supervised demonstrations of emotional-support conversation. "
        "Not a therapist, not a medical device, not for unsupervised use with people in distress.", "",
        "## AI disclosure", "", "Tell every user before the conversation starts:", "", f"> {disclosure}", "",
        "## Limits", "",
        "- The training corpus removed every sample mentioning suicide or jumping from buildings (自杀/跳楼): "
        "the model has never seen a crisis and cannot handle one. Put a crisis guard in front of it "
        "(`soulchat serve` does) and keep people in the loop.",
        "- Replies are sampled: they can be wrong, generic, or inconsistent across turns; the model knows "
        "nothing about the person beyond the conversation.",
        "- Chinese only; the paper's format only (no system prompt).", ""])


def write_card(folder: Path, cfg: Any, metrics: dict[str, float], samples: dict[str, int]) -> None:
    """Write ``folder/README.md`` (the default disclosure: the card is part of a cached stage's output)."""
    from soulchat.chat.config import DISCLOSURE, disclosure_text
    from soulchat.guard.components import HOTLINES

    text = disclosure_text(DISCLOSURE, HOTLINES)
    Path(folder, "README.md").write_text(model_card(cfg, metrics, samples, text), encoding="utf-8")
