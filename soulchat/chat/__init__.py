"""Talk to a trained model: ``soulchat chat`` in the terminal (:mod:`soulchat.chat.terminal`), the
batching engine behind it and behind ``soulchat serve`` (:mod:`soulchat.chat.engine`). docs/serve.md."""
