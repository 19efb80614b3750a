"""``soulchat serve``: an OpenAI-compatible HTTP server (aiohttp) with a web page, over the batching
engine of :mod:`soulchat.chat.engine`. docs/serve.md."""
