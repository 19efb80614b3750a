"""Export the trained weights as a Hugging Face folder, and measure validation loss.

The final checkpoint is read in the pipeline's own process after training has ended: a Lightning
``.ckpt`` file, or a DeepSpeed checkpoint folder whose ZeRO shards are gathered into one fp32 state
dict. The weights are loaded into a freshly built model of the same config, LoRA is merged, and the
result is saved with its tokenizer so that ``AutoModelForCausalLM.from_pretrained(hf/)`` loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from soulchat.train.data import Collator
from soulchat.train.module import target_loss

#: wrappers around the HF model in a checkpoint's keys: DeepSpeed's engine, DDP, our LightningModule
_PREFIXES = ("_forward_module.", "module.", "model.")


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


def load_trained(cfg: Any, checkpoint: Path) -> tuple[Any, Any]:
    """``(merged model, tokenizer)``: the config's model with the checkpoint's weights, LoRA merged.

    Raises:
        RuntimeError: the checkpoint does not fit the configured model (names the missing keys).
    """
    from soulchat.model.finetune import merged
    from soulchat.train.fit import build_model

    _, tokenizer, model = build_model(cfg)
    state = checkpoint_state_dict(checkpoint)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"{checkpoint} does not fit model={cfg.model.name} finetune={cfg.finetune.name}: "
                           f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return merged(model).eval(), tokenizer


def save_hf(model: Any, tokenizer: Any, folder: Path) -> None:
    """Save model + tokenizer atomically (a temporary folder renamed into place)."""
    import shutil

    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.config.use_cache = True
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


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
