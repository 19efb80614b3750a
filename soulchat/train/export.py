"""Export the trained weights as a Hugging Face folder, and measure validation loss.

The final checkpoint is read in the pipeline's own process after training has ended: a Lightning
``.ckpt`` file, or a DeepSpeed checkpoint folder whose ZeRO shards are gathered into one fp32 state
dict. The weights are loaded into a freshly built model of the same config, LoRA is merged, and the
result is saved with its tokenizer so that ``AutoModelForCausalLM.from_pretrained(hf/)`` loads it.

The folder is servable as it is (``vllm serve hf/``, ``soulchat serve``; docs/serve.md): its tokenizer
carries a ``chat_template`` rendering the paper's format exactly like
:func:`soulchat.corpus.format.render_input`, ``generation_config.json`` holds the paper's sampling,
``soulchat_format.json`` the input budget training used, and ``README.md`` is a model card
(:mod:`soulchat.train.card`). A LoRA run also keeps the adapter as a PEFT folder (``adapter/``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from soulchat.corpus.format import COLON, COUNSELLOR, FORMAT_FILE, USER
from soulchat.model.components import family
from soulchat.train.data import Collator
from soulchat.train.module import target_loss

#: wrappers around the HF model in a checkpoint's keys: DeepSpeed's engine, DDP, our LightningModule
_PREFIXES = ("_forward_module.", "module.", "model.")

#: the paper's format as a Jinja chat template (system messages dropped: training never saw one)
CHAT_TEMPLATE = (
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'user' -%}" + USER + COLON + "{{ m['content'] }}{{ '\n' }}"
    "{%- elif m['role'] == 'assistant' -%}" + COUNSELLOR + COLON + "{{ m['content'] }}{{ '\n' }}"
    "{%- elif m['role'] != 'system' -%}{{ raise_exception('role must be user, assistant or system') }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}" + COUNSELLOR + COLON + "{%- endif -%}"
)


def checkpoint_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The trainable module's weights in a checkpoint (file or DeepSpeed folder), keys as the model's.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
    """
    path = Path(path)
    if path.is_dir():  # DeepSpeed: gather ZeRO shards (stage 2 or 3) into one fp32 state dict
        from deepspeed.utils.zero_to_fp32 import get_fp32_state_dict_from_zero_checkpoint

        state = get_fp32_state_dict_from_zero_checkpoint(str(path), tag="checkpoint")
    elif path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    else:
        raise FileNotFoundError(f"no checkpoint at {path}: the fit did not finish; re-run the train stage")
    out = {}
    for key, value in state.items():
        for prefix in _PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    return out


def load_trained(cfg: Any, checkpoint: Path, adapter_dir: Path | None = None) -> tuple[Any, Any]:
    """``(merged model, tokenizer)``: the config's model with the checkpoint's weights, LoRA merged
    (its adapter saved as a PEFT folder in ``adapter_dir`` first, when given).

    Raises:
        RuntimeError: the checkpoint does not fit the configured model (names the missing keys).
    """
    from soulchat.model.finetune import merged
    from soulchat.train.fit import build_model

    _, tokenizer, model = build_model(cfg)
    state = checkpoint_state_dict(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{checkpoint} does not fit model={family(cfg.model)} finetune={cfg.finetune.name}: "
                           f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    if adapter_dir is not None and hasattr(model, "peft_config"):
        model.save_pretrained(adapter_dir)  # adapter_config.json + adapter_model.safetensors
    return merged(model).eval(), tokenizer


def save_hf(model: Any, tokenizer: Any, folder: Path, cfg: Any = None) -> None:
    """Save model + tokenizer atomically (a temporary folder renamed into place); with the run's
    ``cfg``, servable: chat template, the paper's sampling and the input budget."""
    import shutil

    from soulchat.io import write_json

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.config.use_cache = True
    if cfg is not None:
        tokenizer.chat_template = CHAT_TEMPLATE
        model.generation_config = generation_config(tokenizer, int(cfg.corpus.max_target_tokens))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if cfg is not None:
        c = cfg.corpus
        write_json(tmp / FORMAT_FILE, {
            "format": f"{USER}{COLON}...\n{COUNSELLOR}{COLON}", "max_input_tokens": int(c.max_input_tokens),
            "max_history_turns": c.max_history_turns, "max_target_tokens": int(c.max_target_tokens)})
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def generation_config(tokenizer: Any, max_new_tokens: int) -> Any:
    """The paper's sampling (top-p 0.75, temperature 0.95; top-k 50 as ChatGLM-6B's ``chat``), replies up
    to the training target length; the values are ``GenerateConfig``'s defaults, not a run's overrides."""
    from transformers import GenerationConfig

    from soulchat.generate.config import GenerateConfig

    g = GenerateConfig()
    return GenerationConfig(do_sample=True, top_p=g.top_p, temperature=g.temperature, top_k=g.top_k,
                            max_new_tokens=max_new_tokens, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                            else tokenizer.eos_token_id)


@torch.no_grad()
def validation_loss(model: Any, dataset: Any, pad_id: int, batch_size: int = 16,
                    max_samples: int | None = None) -> float:
    """Mean next-token cross-entropy over the target tokens of (the first ``max_samples`` of) a split."""
    n = len(dataset) if max_samples is None else min(len(dataset), max_samples)
    if n == 0:
        return float("nan")
    collate = Collator(pad_id)
    order = sorted(range(n), key=lambda i: -int(dataset.lengths[i]))
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64), 0
    device = next(model.parameters()).device
    for s in range(0, n, batch_size):
        batch = collate([dataset[i] for i in order[s:s + batch_size]])
        mean, n = target_loss(model, {key: v.to(device) for key, v in batch.items()})
        total += (mean * n).double().cpu()
        count += int(n)
    return float(total / max(count, 1))
