"""What is a secret, beyond its shape: the values :mod:`soulchat.tracking.redact` masks everywhere.

- the value of an environment variable whose name looks secret (``*KEY*``, ``*TOKEN*``, ...);
- the value of the variable that a ``*_env`` config field names (``endpoint.api_key_env``),
  whatever the variable is called (:func:`register_env_fields`, :func:`env_value`);
- a ``*_env`` value that names no variable that is set and is not shaped like a variable's name
  (``endpoint.api_key_env=<the key itself>``): a secret until proven otherwise;
- the value of a config key named like a secret (``api_key``, ``hf_token``; not ``api_key_env``).

Values shorter than :data:`MIN_SECRET_LEN` are never masked: they would garble ordinary text
(``OPENAI_API_KEY=none`` is the documented value for a server that needs no key).

Keys are never given on the command line: :func:`refuse_secret_overrides` stops
``endpoint.api_key=...`` before Hydra would echo or save it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Any, Iterable

from soulchat.errors import SoulchatError

log = logging.getLogger(__name__)

MIN_SECRET_LEN = 8
#: environment variable names whose values are secrets whatever reads them
SECRET_ENV_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH)", re.IGNORECASE)
#: config/YAML key names whose (string) values are secrets
SECRET_KEY_NAME = re.compile(
    r"(^|[_.-])(api_?key|apikey|secret(_key)?|password|passwd|token|access_?token|auth_?token"
    r"|refresh_?token|private_?key|access_?key(_id)?|credentials?|authorization)$",
    re.IGNORECASE,
)
#: what an environment variable's name may be (POSIX)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: a conventional variable name (upper-case words joined by ``_``, or one short word): an unset
#: ``*_env`` value of this shape is taken for a name; any other unset value may be the key itself
CONVENTIONAL_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{1,16}")

_known: set[str] = set()
_lock = threading.Lock()


class SecretNotFound(SoulchatError):
    """A ``*_env`` field names no usable environment variable (the message never holds its value)."""


def add_secret(value: str | None) -> None:
    """Mask ``value`` in everything written from now on (this process)."""
    if value and len(value) >= MIN_SECRET_LEN:
        with _lock:
            _known.add(value)


def known_secrets() -> frozenset[str]:
    with _lock:
        return frozenset(_known)


def environ_snapshot() -> dict[str, str]:
    """A copy of os.environ. Other threads (MLflow's telemetry) set and unset variables while we
    read, which makes a plain iteration raise KeyError; copy again until a copy goes through."""
    for _ in range(100):
        try:
            return dict(os.environ)
        except (KeyError, RuntimeError):
            continue
    return {}


def env_secrets(environ: dict[str, str] | None = None) -> set[str]:
    """Values of environment variables whose names look secret (at least 8 characters)."""
    if environ is None:
        environ = environ_snapshot()
    return {v for k, v in environ.items() if SECRET_ENV_NAME.search(k) and len(v) >= MIN_SECRET_LEN
            and not os.path.isabs(v)}  # SSH_AUTH_SOCK and friends are paths, not secrets


def is_secret_key(name: str) -> bool:
    """Whether a config key names a secret (``api_key``, ``hf_token``; not ``api_key_env``)."""
    return bool(SECRET_KEY_NAME.search(str(name)))


def _why_unusable(name: str, field: str) -> str | None:
    """Why the ``*_env`` value ``name`` gives no secret (never quoting it), or None if it does."""
    if not ENV_NAME.fullmatch(name):
        return (f"{field} must name an environment variable, and its value is not a variable's name "
                f"(withheld: it may be the key itself); put the key in a variable, e.g. export "
                f"OPENAI_API_KEY, and give {field} that variable's name")
    if os.environ.get(name):
        return None
    if CONVENTIONAL_NAME.fullmatch(name):
        return (f"the environment variable {name} ({field}) is not set; export it (any value for a "
                f"server that needs no key, e.g. export {name}=none)")
    return (f"{field} names no environment variable that is set, and its value does not look like a "
            f"variable's name (withheld: it may be the key itself); put the key in a variable, e.g. "
            f"export OPENAI_API_KEY, and give {field} that variable's name")


def env_value(name: str, field: str = "api_key_env") -> str:
    """The value of the environment variable ``name`` (which config field ``field`` gives), now a secret.

    Raises:
        SecretNotFound: ``name`` is not a variable's name, or the variable is not set; the message
            says which without quoting ``name`` unless it is shaped like a variable's name.
    """
    name = str(name)
    why = _why_unusable(name, field)
    if why is not None:
        if not CONVENTIONAL_NAME.fullmatch(name):
            add_secret(name)
        raise SecretNotFound(why)
    value = os.environ[name]
    add_secret(value)
    return value


def register_env_fields(cfg: Any) -> list[str]:
    """Register the secrets that a config's ``*_env`` fields give (see the module docstring).

    Returns the dotted paths of the fields whose value is withheld as a possible key.
    """
    from omegaconf import DictConfig

    if isinstance(cfg, DictConfig):
        cfg = {k: _container(cfg, k) for k in cfg.keys() if k != "hydra"}
    withheld: list[str] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                path = f"{prefix}.{k}" if prefix else str(k)
                if str(k).endswith("_env") and isinstance(v, str) and v:
                    if ENV_NAME.fullmatch(v) and os.environ.get(v):
                        add_secret(os.environ[v])
                    elif not CONVENTIONAL_NAME.fullmatch(v):
                        add_secret(v)
                        withheld.append(path)
                else:
                    walk(path, v)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(f"{prefix}[{i}]", v)

    walk("", cfg)
    if withheld:
        log.warning("%s: not the name of an environment variable that is set; the value is withheld "
                    "everywhere (it may be a key)", ", ".join(withheld))
    return withheld


def _container(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    node = cfg._get_node(key)
    if not OmegaConf.is_config(node):
        try:
            return cfg[key]
        except Exception:  # an interpolation that cannot resolve here
            return None
    try:
        return OmegaConf.to_container(node, resolve=True)
    except Exception:  # e.g. ${hydra:...} outside a running app
        return OmegaConf.to_container(node, resolve=False)


def secret_overrides(args: Iterable[str]) -> list[str]:
    """The keys of command-line overrides that would put a secret into the config (``endpoint.api_key=``,
    ``+generator.hf_token=``); ``hydra.*`` keys (``hydra.job.env_set.*`` sets variables) are exempt."""
    keys = []
    for arg in args:
        key, sep, _ = arg.partition("=")
        key = key.lstrip("+~")
        if sep and not arg.startswith("-") and not key.startswith("hydra.") and is_secret_key(key.rsplit(".", 1)[-1]):
            keys.append(key)
    return keys


def refuse_secret_overrides(args: Iterable[str]) -> None:
    """Exit with status 2 if an override gives a secret; the message names the key, never the value."""
    keys = secret_overrides(args)
    if keys:
        print(f"error: {', '.join(keys)}: a key is never given on the command line (it would be saved "
              f"with the run's config); put it in an environment variable and give that variable's name "
              f"in the matching *_env setting, e.g. export OPENAI_API_KEY, then endpoint.api_key_env="
              f"OPENAI_API_KEY", file=sys.stderr)
        raise SystemExit(2)
