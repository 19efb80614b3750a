"""The LLM client's errors, and how a request that went wrong is told apart: never sent, timed out,
dropped, or a misconfigured endpoint."""

from __future__ import annotations

import urllib.parse

from soulchat.errors import SoulchatError


class InvalidOutput(ValueError):
    """Raised by a validator: the answer is not acceptable; ``str(exc)`` is the reason."""


class StoreMiss(SoulchatError, LookupError):
    """Offline (no ``base_url``) and a request is not in any store."""


class FatalEndpointError(SoulchatError, RuntimeError):
    """The endpoint is misconfigured or refuses every request (bad URL, credentials in the URL,
    401/403, 404: unknown model or path); raised at once, nothing retried."""


class Unfinished(SoulchatError, RuntimeError):
    """Some items failed for transient reasons (network, 5xx, 429, timeouts) after their retries:
    the work is not finished, and running the same command again asks exactly those again."""


def check_base_url(url: str, key_env: str) -> None:
    """Raise :class:`FatalEndpointError` unless ``url`` is an http(s) URL with a host and no
    credentials (the message never repeats a password)."""
    try:
        parts = urllib.parse.urlsplit(str(url))
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise FatalEndpointError(f"endpoint.base_url is not a valid URL ({exc}); e.g. http://localhost:8000/v1") from None
    if parts.username is not None or parts.password is not None:
        shown = urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]))
        raise FatalEndpointError(
            f"endpoint.base_url={shown} holds credentials (user:password@); remove them and put the key "
            f"in the environment variable {key_env} (endpoint.api_key_env)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FatalEndpointError(f"endpoint.base_url={url} is not an http(s) URL with a host; "
                                 f"e.g. https://api.openai.com/v1 or http://localhost:8000/v1")


def _chain(exc: BaseException) -> list[BaseException]:
    out = [exc]
    while len(out) < 16 and (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
        out.append(exc)
    return out


def timed_out(exc: BaseException) -> bool:
    """Whether a connection error is a timeout. The aiohttp transport reports a dropped connection
    (and a refused one) as a connect timeout too; the original error at the end of the chain
    (aiohttp's timeouts are ``TimeoutError``s) tells them apart."""
    return isinstance(_chain(exc)[-1], TimeoutError)


def never_sent(exc: BaseException) -> bool:
    """Whether a connection error happened before the request left (refused, unknown host): the
    server cannot bill it and it is not counted as sent."""
    try:
        from aiohttp import ClientConnectorError
    except ImportError:  # pragma: no cover - the SDK's aiohttp transport is a dependency
        return False
    return any(isinstance(e, (ClientConnectorError, ConnectionRefusedError)) for e in _chain(exc))

