"""Readers: every published counselling-dialogue format -> canonical dialogue records.

- :mod:`~soulchat.corpus.readers.files`: raw file I/O (``.gz``, UTF-8, JSON / JSON Lines, the peek
  detection looks at, empty / not-UTF-8 / damaged files);
- :mod:`~soulchat.corpus.readers.records`: :class:`Item`, the canonical record and its checks;
- :mod:`~soulchat.corpus.readers.base`: :class:`ReaderConfig`, the JSON base :class:`Reader`,
  building the registered readers and detecting a file's format by ``priority``;
- one module per format: ``messages``, ``smilechat``, ``text``, ``psyqa``, ``sharegpt``,
  ``llama_factory`` (those with ``export`` can also write their format: ``corpus.export``).
"""
