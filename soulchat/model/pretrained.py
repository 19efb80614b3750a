"""Real base models from a local folder (``model=pretrained``; each family is a YAML in
``conf/model/`` that extends it: chatglm3, glm4, qwen2_5, llama3).

The folder is checked when the component is built, before any training starts: a missing
``model.path``, a folder without ``config.json`` or a ``model_type`` of another family fails at once
and says what to pass. Nothing is ever downloaded (``local_files_only``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from soulchat.errors import ConfigError, MissingInput
from soulchat.model.base import BaseModel
from soulchat.model.components import family


class PretrainedModel(BaseModel):
    """A Hugging Face causal LM loaded from ``model.path``."""

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self.path = check_model_folder(cfg)

    def model(self, tokenizer: Any, seed: int) -> Any:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(
            self.path, dtype=self.torch_dtype(), trust_remote_code=self.trust_remote_code,
            local_files_only=True)
        if model.config.pad_token_id is None and tokenizer.pad_token_id is not None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return model


def check_model_folder(cfg: Any) -> Path:
    """Return ``model.path`` as a folder of the configured family.

    Raises:
        FileNotFoundError: no path given, the folder does not exist, or it has no config.json.
        ValueError: config.json names another model type than ``model.model_types``.
    """
    name = family(cfg)
    hint = f"pass model.path=/path/to/{name} (a local Hugging Face folder with config.json and weights)"
    if not cfg.path:
        raise MissingInput(f"model={name} needs its weights: {hint}")
    path = Path(cfg.path).expanduser()
    if not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise MissingInput(f"model={name}: model.path={cfg.path} {what}; {hint}")
    try:
        model_type = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    except json.JSONDecodeError as exc:
        raise ConfigError(f"model={name}: {path / 'config.json'} is not valid JSON ({exc.msg})") from None
    accepted = list(cfg.model_types or [])
    if accepted and model_type not in accepted:
        raise ConfigError(
            f"model={name}: {path / 'config.json'} has model_type={model_type!r}, expected one of "
            f"{accepted}; pick the matching model=<family> or fix model.path")
    return path


def build(cfg: Any) -> PretrainedModel:
    return PretrainedModel(cfg)
