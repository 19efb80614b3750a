"""Keep secrets inside the process: the one place where text is redacted before it leaves.

API keys come only from environment variables, but a key can still leak: an interpolation like
``${oc.env:OPENAI_API_KEY}`` resolves into the config, a URL carries ``user:password@``, a server's
error message quotes the key. Everything that leaves the process (MLflow params, tags, text and
file artifacts, Hydra's ``.hydra/*.yaml`` and ``multirun.yaml``, every log record, the run
folder's files, stored error texts) goes through :func:`redact_text` or :func:`redact_tree`, which
replace

- every value :mod:`soulchat.tracking.secrets` knows to be secret (secret-named environment
  variables, the variables that ``*_env`` fields name, a ``*_env`` value that may be the key itself),
- strings shaped like provider keys (``sk-...``, ``hf_...``, ``ghp_...``, ``AKIA...``, JWTs,
  ``Bearer ...``) and the password part of ``scheme://user:password@host``,
- the value of any config key named like a secret (``api_key``, ``token``, ``password``, ...; not
  ``api_key_env``, which names the variable, nor ``max_tokens``),

with :data:`MASK`.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Iterable

from soulchat.tracking.secrets import env_secrets, is_secret_key, known_secrets

MASK = "***REDACTED***"
#: values of a secret-named key that are no secret (``OPENAI_API_KEY=none`` for a server without keys)
PLACEHOLDERS = ("null", "none", "~", "true", "false")

#: strings that look like credentials wherever they appear
SECRET_SHAPES = [
    re.compile(r"\bsk-[A-Za-z0-9_\-]{16,}"),  # OpenAI-style
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"),  # JWT
    re.compile(r"(?i)(?<=bearer )[A-Za-z0-9_\-.=+/]{8,}"),
]
#: ``scheme://user:password@host``: only the password is masked (Hydra writes ``\:`` in overrides)
URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*\\?://[^/\s:@]+:)(?P<pw>[^@\s/]+)(?=@)")
#: ``api_key: value`` / ``token=value`` / ``"password": "value"`` in YAML, JSON, logs, overrides
KEY_VALUE = re.compile(
    r"(?P<key>[\w.\-]*(?:api_?key|apikey|secret|password|passwd|token|private_?key|access_?key"
    r"|credentials?|authorization)[\"']?)(?P<sep>\s*[:=]\s*[\"']?)(?P<val>[^\s\"',}\]]+)",
    re.IGNORECASE,
)
TEXT_SUFFIXES = {".yaml", ".yml", ".json", ".jsonl", ".txt", ".md", ".csv", ".log", ".tsv", ".html", ".cfg", ".ini"}
MAX_SCAN_BYTES = 64 * 1024 * 1024


def _key_value_sub(m: re.Match) -> str:
    key = m.group("key").strip("\"'")
    if not is_secret_key(key.rsplit(".", 1)[-1]) or m.group("val") == MASK:
        return m.group(0)
    if m.group("val").rstrip(").;:`").lower() in PLACEHOLDERS or m.group("val").startswith("${"):
        return m.group(0)  # an unset field or an interpolation is not a secret
    return f"{m.group('key')}{m.group('sep')}{MASK}"


def redact_text(text: str) -> str:
    """Return ``text`` with every secret (see the module docstring) replaced by :data:`MASK`."""
    if not text:
        return text
    for value in sorted(env_secrets() | known_secrets(), key=len, reverse=True):
        if value in text:
            text = text.replace(value, MASK)
    for shape in SECRET_SHAPES:
        text = shape.sub(MASK, text)
    text = URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return KEY_VALUE.sub(_key_value_sub, text)


def redact_obj(obj: Any) -> Any:
    """Redact a plain container (from ``OmegaConf.to_container``): secret keys and secret strings."""
    if isinstance(obj, dict):
        return {k: (MASK if is_secret_key(k) and isinstance(v, str) and v else redact_obj(v))
                for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, str):
        return redact_text(obj)
    return obj


def config_yaml(cfg: Any) -> str:
    """The resolved config as YAML, secrets redacted (for artifacts and the run folder)."""
    from omegaconf import OmegaConf

    container = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    return OmegaConf.to_yaml(OmegaConf.create(redact_obj(container)))


def redact_file(path: Path) -> bool:
    """Rewrite a text file in place (atomically) if it holds a secret. Returns whether it changed."""
    path = Path(path)
    if path.suffix.lower() not in TEXT_SUFFIXES or not path.is_file() or path.stat().st_size > MAX_SCAN_BYTES:
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return False
    clean = redact_text(text)
    if clean == text:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.redact")  # unique per process: jobs run in parallel
    tmp.write_text(clean, encoding="utf-8")
    os.replace(tmp, path)
    return True


def redact_tree(paths: Iterable[Path]) -> int:
    """Redact every text file under the given files/folders in place; return how many changed."""
    changed = 0
    for p in paths:
        p = Path(p)
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else []
        changed += sum(redact_file(f) for f in files)
    return changed


def needs_redaction(path: Path) -> bool:
    """Whether a file, or any text file in a folder, holds a secret (nothing is written)."""
    path = Path(path)
    files = [path] if path.is_file() else [q for q in path.rglob("*") if q.is_file()]
    for f in files:
        if f.suffix.lower() not in TEXT_SUFFIXES or f.stat().st_size > MAX_SCAN_BYTES:
            continue
        try:
            text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if redact_text(text) != text:
            return True
    return False


def install_log_redaction() -> None:
    """Redact every log record's message from now on, whatever handler writes it (console, the
    job's log file). A record factory, unlike a handler filter, survives Hydra re-configuring
    logging for each job. Idempotent."""
    old = logging.getLogRecordFactory()
    if getattr(old, "soulchat_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old(*args, **kwargs)
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return record
        clean = redact_text(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return record

    factory.soulchat_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RedactingStream:
    """A text stream that redacts what is written to it (the console: a bug's traceback printed by
    Hydra or Python, progress bars); everything else is the wrapped stream's."""

    def __init__(self, stream: Any):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact_text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def install_console_redaction() -> None:
    """Redact what goes to stdout and stderr from now on. Idempotent."""
    import sys

    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
