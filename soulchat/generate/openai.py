"""The ``openai`` generator: an OpenAI-compatible endpoint answers the test inputs.

The paper's ChatGPT row (and a vLLM server for generating at scale). Every request goes through
the one shared client (:class:`soulchat.llm.LLMClient`): bounded concurrency, rate limits,
retries, spend guards, and the content-addressed response store, so an interrupted run re-pays
nothing and a recorded run replays offline. The dialogue history is sent as chat messages
(user / assistant roles), optionally after ``generator.system_prompt``; sampling is ``generate.*``.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from omegaconf import OmegaConf


class OpenAIGenerator:
    """Replies from an API model. ``cfg`` is an endpoint config (``OpenAIGeneratorConfig``)."""

    def __init__(self, cfg: Any, batch_size: int = 64):
        from soulchat.llm import LLMClient

        self.cfg = cfg
        self.batch_size = max(1, int(batch_size))
        self.client = LLMClient(cfg, concurrency=int(cfg.concurrency), desc="generate (api)")

    def settings(self) -> dict[str, Any]:
        return {"generator": "openai", "model": str(self.cfg.model), "base_url": self.cfg.base_url,
                "top_p": float(self.cfg.top_p), "temperature": float(self.cfg.temperature),
                "max_tokens": int(self.cfg.max_tokens), "system_prompt": self.cfg.system_prompt}

    def messages(self, sample: dict) -> list[dict]:
        msgs = [{"role": m["role"], "content": m["content"]} for m in sample["history"]]
        if self.cfg.system_prompt:
            msgs.insert(0, {"role": "system", "content": str(self.cfg.system_prompt)})
        return msgs

    def generate(self, samples: Sequence[dict], done: set[str] = frozenset()) -> Iterator[list[tuple[dict, str]]]:
        """Yield answered chunks ``[(sample, reply), ...]``; an item the endpoint could not answer
        raises :class:`soulchat.llm.failures.Unfinished` naming it and the reasons (what was answered is already yielded).

        Raises:
            soulchat.llm.StoreMiss: offline and an answer is not recorded (says how to go live).
        """
        from soulchat.llm import Request, StoreMiss
        from soulchat.llm.failures import Unfinished

        todo = [s for s in samples if s["id"] not in done]
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            try:
                results = self.client.run([Request(id=s["id"], messages=self.messages(s)) for s in chunk])
            except StoreMiss as exc:
                raise StoreMiss(f"generator=openai is offline (generator.base_url is not set) and an answer is "
                                f"not recorded: {str(exc).split(';')[0]}. To call the API: "
                                f"generator.base_url=<url> generator.model=<model> with the key in "
                                f"${self.cfg.api_key_env}") from None
            good = [(s, (r.text or "").strip()) for s, r in zip(chunk, results) if r.status == "ok"]
            yield good
            bad = [r for r in results if r.status != "ok"]
            if bad:
                raise Unfinished(f"generator=openai: {len(bad)} of {len(chunk)} requests not answered, e.g. "
                                 f"{bad[0].id}: {bad[0].status} {bad[0].errors[:2]}; not cached: run the same "
                                 "command again to resume")


def build(cfg: Any, root: Any, model_dir: Any = None) -> OpenAIGenerator:
    """``generator=openai``: the generator config with ``generate.*`` sampling merged in."""
    g = root.generate
    node = OmegaConf.create({**OmegaConf.to_container(cfg, resolve=True), "temperature": float(g.temperature),
                             "top_p": float(g.top_p), "max_tokens": int(g.max_new_tokens)})
    return OpenAIGenerator(node, batch_size=max(64, int(cfg.concurrency) * 4))
