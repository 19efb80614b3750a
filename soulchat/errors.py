"""The error base class for the user's mistakes (bad input, impossible settings, an endpoint that
refuses): ``python -m soulchat`` reports these as one line and exits 2, with the traceback in the run
folder; any other exception is a bug and keeps its traceback."""

from __future__ import annotations


class SoulchatError(Exception):
    """Bad input or settings; the message names the file, record or key and what to do."""


class ConfigError(SoulchatError, ValueError):
    """An impossible or inconsistent setting; the message names the key and the allowed values."""


class MissingInput(SoulchatError, FileNotFoundError):
    """A file or folder the settings name does not exist or does not hold what is needed."""
