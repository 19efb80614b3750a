"""A lean batched decode loop: one prefill, then one KV-cached step per token, top-k / top-p sampling.

Why not ``model.generate``: its per-step cost grows with the batch in places that do not need to
(top-p sorts the whole vocabulary and ``multinomial`` draws over it for every row), which on the
CPU ate most of what batching saves. Here the distribution is the same as Hugging Face's
``temperature -> top-k -> top-p`` warpers, but top-p works on the top-k candidates only (the other
tokens have probability 0 after top-k anyway), and the draw is over those k. Every row draws from
its own random stream (``seeds``), so what a row says does not depend on the rows batched with it.

Rows are left-padded; ``position_ids`` count real tokens only, so every row sees the positions it
would see alone. Finished rows (eos) keep emitting ``pad_id`` until all are done or
``max_new_tokens`` is reached. Greedy decoding (``top_k=1``) equals ``model.generate(do_sample=False)``
(tested).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import torch


def _cache_arg(model: Any) -> tuple[str, bool]:
    """The forward's name for the KV cache (``cache`` in transformers 5, ``past_key_values`` in
    older and remote-code models) and whether it takes ``logits_to_keep``."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return ("cache" if "cache" in params else "past_key_values"), "logits_to_keep" in params


@torch.inference_mode()
def decode(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
           eos_id: int | None, pad_id: int, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, on_step: Optional[Callable[[torch.Tensor], Any]] = None,
           seeds: Optional[Sequence[int]] = None) -> torch.Tensor:
    """New token ids [batch, <= max_new_tokens] for left-padded ``input_ids`` (pad after eos).

    ``on_step(tokens)`` sees each step's tokens [batch] as they are drawn (streaming); a true return
    stops decoding early (every row has what its caller wanted). ``seeds``: each row's random stream
    (default: its index).
    """
    from soulchat.generate.prefill import prefill

    batch = input_ids.shape[0]
    position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    cache_name, keep = _cache_arg(model)
    extra = {"logits_to_keep": 1} if keep else {}
    if cache_name == "cache":  # rows of similar length together, not all at the longest one's width
        logits, cache = prefill(model, input_ids, attention_mask, position_ids, extra)
    else:
        out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                    use_cache=True, past_key_values=None, **extra)
        logits, cache = out.logits[:, -1, :], out.past_key_values
    next_pos = position_ids[:, -1:] + 1
    generators = [torch.Generator().manual_seed(int(s)) for s in (range(batch) if seeds is None else seeds)]
    settings = (torch.full((batch, 1), float(temperature), device=logits.device), [int(top_k)] * batch,
                torch.full((batch, 1), float(top_p), device=logits.device), generators)
    finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    ones = torch.ones((batch, 1), dtype=attention_mask.dtype, device=attention_mask.device)
    steps = []
    for _ in range(max_new_tokens):
        token = sample_rows(logits, *settings)
        token = torch.where(finished, torch.full_like(token, pad_id), token)
        steps.append(token)
        if eos_id is not None:
            finished |= token == eos_id
        if on_step is not None and on_step(token):
            break
        if bool(finished.all()) or len(steps) == max_new_tokens:
            break
        attention_mask = torch.cat([attention_mask, ones], dim=1)
        out = model(input_ids=token[:, None], attention_mask=attention_mask, position_ids=next_pos,
                    use_cache=True, **{cache_name: cache})
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None) or cache
        next_pos = next_pos + 1
        logits = out.logits[:, -1, :]
    if not steps:
        return torch.zeros((batch, 0), dtype=torch.long, device=input_ids.device)
    return torch.stack(steps, dim=1)


def sample_rows(logits: torch.Tensor, temperature: torch.Tensor, top_k: list[int], top_p: torch.Tensor,
                generators: list[torch.Generator]) -> torch.Tensor:
    """One token per row of ``logits`` [batch, vocab]: temperature, then top-k, then top-p, each row with
    its own settings and random stream (``temperature`` and ``top_p`` [batch, 1]; ``generators`` on the
    CPU), so a row's draw does not depend on its batch; top-k 1 is greedy."""
    vocab = logits.shape[-1]
    ks = [k if 0 < k < vocab else vocab for k in top_k]
    k = max(ks)
    if k == 1:
        return logits.argmax(-1)
    values, index = torch.topk(logits, k, dim=-1)  # sorted, descending (temperature keeps the order)
    values = values.float() / temperature.clamp(min=1e-5)
    if min(ks) < k:
        limit = torch.tensor(ks, device=logits.device)[:, None]
        values = values.masked_fill(torch.arange(k, device=logits.device) >= limit, float("-inf"))
    probs = torch.softmax(values, dim=-1)
    cdf = probs.cumsum(-1)
    # top-p keeps the shortest prefix whose mass reaches top_p (a row with top_p >= 1 keeps all)
    kept = ((cdf - probs) < top_p) | (top_p >= 1.0)
    total = (probs * kept).sum(-1, keepdim=True)
    # inverse CDF with one uniform per row from the row's generator (torch.multinomial takes only one)
    u = torch.cat([torch.rand(1, generator=g) for g in generators]) if len(generators) > 1 else \
        torch.rand(1, generator=generators[0])
    u = u.to(logits.device)[:, None]
    choice = (cdf < u * total).sum(-1, keepdim=True).clamp(max=k - 1)
    return index.gather(-1, choice).squeeze(-1)
