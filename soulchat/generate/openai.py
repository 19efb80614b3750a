"""The ``openai`` generator: an OpenAI-compatible endpoint answers the test inputs.

The paper's ChatGPT row (and a vLLM server for generating at scale). Every request goes through
the one shared client (:class:`soulchat.llm.LLMClient`): bounded concurrency, rate limits,
retries, spend guards, and the content-addressed response store, so an interrupted run re-pays
nothing and a recorded run replays offline. Sampling is ``generate.*``.

``generator.endpoint`` picks the API:

- ``chat``: the dialogue history is sent as chat messages (user / assistant roles), optionally
  after ``generator.system_prompt``; the server's chat template renders it.
- ``completions``: for a model without a chat template (a base model, a vLLM-served export), the
  prompt is rendered here exactly as training rendered inputs: the ids of
  :func:`soulchat.corpus.format.encode_input` (the ``用户：…\\n心理咨询师：`` format, the oldest whole
  turns dropped to fit ``corpus.max_input_tokens``, at most ``corpus.max_history_turns``), decoded
  with ``generator.tokenizer`` (default: ``model``'s, the corpus's). It is sent to
  ``POST /completions`` with :data:`STOP`, so the model stops at the next speaker label; a server
  that ignores ``stop`` has its answer cut there.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from omegaconf import OmegaConf

from soulchat import speakers
from soulchat.errors import ConfigError

#: a completion ends where the next turn's speaker label would start (the paper's labels)
STOP = tuple(f"\n{label}{speakers.COLON}" for label in (speakers.LABELS[speakers.USER],
                                                        speakers.LABELS[speakers.ASSISTANT]))


def find_stop(text: str, stops: Sequence[str]) -> int:
    """Where the earliest of ``stops`` begins in ``text`` (empty ones ignored), or -1: the one stop
    search of the generator, the server's streamed cut (:class:`soulchat.serve.completions.StopScan`)
    and the test server."""
    return min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)


def cut_at_stop(text: str, stops: Sequence[str] = STOP) -> str:
    """``text`` up to the first of ``stops`` (what a server that ignores ``stop`` sent after it is dropped)."""
    at = find_stop(text, stops)
    return text if at < 0 else text[:at]


class OpenAIGenerator:
    """Replies from an API model. ``cfg`` is an endpoint config (``OpenAIGeneratorConfig``).

    Args:
        cfg: the generator config with ``generate.*`` sampling merged in.
        batch_size: requests handed to the client at once.
        tokenizer: ``endpoint=completions``: the tokenizer the input budget is counted in.
        max_input_tokens, max_history_turns: ``endpoint=completions``: the training input budget.

    Raises:
        ConfigError: ``endpoint=completions`` without a tokenizer, or with a system prompt (the
            paper's format has no place for one).
    """

    def __init__(self, cfg: Any, batch_size: int = 64, tokenizer: Any = None,
                 max_input_tokens: int | None = None, max_history_turns: int | None = None):
        from soulchat.llm import LLMClient

        self.cfg = cfg
        self.completions = is_completions(cfg)
        if self.completions and cfg.system_prompt:
            raise ConfigError("generator.system_prompt is set but generator.endpoint=completions renders the "
                              "paper's format, which training never saw a system prompt in: unset one of them")
        if self.completions and tokenizer is None:
            raise ConfigError("generator.endpoint=completions needs a tokenizer to fit the input budget")
        self.tokenizer, self.max_input_tokens, self.max_history_turns = tokenizer, max_input_tokens, max_history_turns
        self.batch_size = max(1, int(batch_size))
        self.client = LLMClient(cfg, concurrency=int(cfg.concurrency), desc="generate (api)")

    def settings(self) -> dict[str, Any]:
        out = {"generator": "openai", "model": str(self.cfg.model), "base_url": self.cfg.base_url,
               "top_p": float(self.cfg.top_p), "temperature": float(self.cfg.temperature),
               "max_tokens": int(self.cfg.max_tokens), "system_prompt": self.cfg.system_prompt,
               "endpoint": "completions" if self.completions else "chat"}
        if self.completions:
            out.update(stop=list(STOP), max_input_tokens=self.max_input_tokens)
        return out

    def messages(self, sample: dict) -> list[dict]:
        msgs = [{"role": m["role"], "content": m["content"]} for m in sample["history"]]
        if self.cfg.system_prompt:
            msgs.insert(0, {"role": "system", "content": str(self.cfg.system_prompt)})
        return msgs

    def prompt(self, sample: dict) -> str:
        """The completions prompt: training's input ids for the history, as text."""
        from soulchat.corpus.format import encode_input

        ids = encode_input(self.tokenizer, sample["history"], self.max_input_tokens, self.max_history_turns)
        return self.tokenizer.decode(ids, clean_up_tokenization_spaces=False)

    def request(self, sample: dict) -> Any:
        from soulchat.llm import Request

        if self.completions:
            return Request(id=sample["id"], prompt=self.prompt(sample), params={"stop": list(STOP)})
        return Request(id=sample["id"], messages=self.messages(sample))

    def generate(self, samples: Sequence[dict], done: set[str] = frozenset()) -> Iterator[list[tuple[dict, str]]]:
        """Yield answered chunks ``[(sample, reply), ...]``; an item the endpoint could not answer
        raises :class:`soulchat.llm.failures.Unfinished` naming it and the reasons (what was answered is already yielded).

        Raises:
            soulchat.llm.StoreMiss: offline and an answer is not recorded (says how to go live).
        """
        from soulchat.llm import StoreMiss
        from soulchat.llm.failures import Unfinished

        todo = [s for s in samples if s["id"] not in done]
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            try:
                results = self.client.run([self.request(s) for s in chunk])
            except StoreMiss as exc:
                raise StoreMiss(f"generator=openai is offline (generator.base_url is not set) and an answer is "
                                f"not recorded: {str(exc).split(';')[0]}. To call the API: "
                                f"generator.base_url=<url> generator.model=<model> with the key in "
                                f"${self.cfg.api_key_env}") from None
            good = [(s, self.reply(r.text)) for s, r in zip(chunk, results) if r.status == "ok"]
            yield good
            bad = [r for r in results if r.status != "ok"]
            if bad:
                raise Unfinished(f"generator=openai: {len(bad)} of {len(chunk)} requests not answered, e.g. "
                                 f"{bad[0].id}: {bad[0].status} {bad[0].errors[:2]}; not cached: run the same "
                                 "command again to resume")

    def reply(self, text: str | None) -> str:
        return (cut_at_stop(text or "") if self.completions else (text or "")).strip()


def build(cfg: Any, root: Any, model_dir: Any = None) -> OpenAIGenerator:
    """``generator=openai``: the generator config with ``generate.*`` sampling merged in; for
    ``endpoint=completions`` also the tokenizer (``generator.tokenizer``, else ``model``'s) and
    the training input budget (``corpus.max_input_tokens``, ``corpus.max_history_turns``)."""
    g = root.generate
    node = OmegaConf.create({**OmegaConf.to_container(cfg, resolve=True), "temperature": float(g.temperature),
                             "top_p": float(g.top_p), "max_tokens": int(g.max_new_tokens)})
    batch = max(64, int(cfg.concurrency) * 4)
    if not is_completions(cfg):
        return OpenAIGenerator(node, batch_size=batch)
    return OpenAIGenerator(node, batch, completion_tokenizer(cfg, root), root.corpus.max_input_tokens,
                           root.corpus.max_history_turns)


def is_completions(cfg: Any) -> bool:
    """The generator config sends text prompts to ``/completions`` (``endpoint=completions``)."""
    return str(cfg.get("endpoint", "chat")) == "completions"


def completion_tokenizer(cfg: Any, root: Any) -> Any:
    """``generator.tokenizer`` (a Hugging Face folder: the served model's), else ``model``'s (the corpus's)."""
    from soulchat.model.tokenizer import get_tokenizer, load_pretrained

    trust = bool(OmegaConf.select(root, "model.trust_remote_code", default=False))
    return load_pretrained(cfg.tokenizer, trust) if cfg.get("tokenizer") else get_tokenizer(root.model, root.paths.cache)
