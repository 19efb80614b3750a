"""Batches for training: length-grouped, dynamically padded, resumable at any micro-batch.

Works on anything with the :class:`soulchat.corpus.samples.SampleSet` API (``len``, ``ds[i]`` ->
``{"input_ids", "labels"}`` int arrays with -100 where there is no loss, ``ds.lengths``), so the
corpus's ``sample`` mode (one counsellor reply per sequence) and ``dialogue`` mode (every reply of a
dialogue in one sequence) train the same way: the loss falls wherever ``labels`` is not -100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from soulchat.errors import ConfigError

IGNORE = -100


class LengthGroupedBatches(torch.utils.data.Sampler):
    """An endless, seeded stream of micro-batches of similar length, sliced for one run.

    Each epoch shuffles the indices, cuts them into mega-batches of ``group`` micro-batches, sorts
    each mega-batch by length (longest first) and shuffles the order of the resulting batches, so
    a batch pads little and the stream stays random. Batch ``i`` of the stream depends only on
    ``(seed, i)``, which makes resuming exact: start at the number of batches already consumed.

    Args:
        lengths: sequence length of every sample.
        batch_size: samples per micro-batch.
        seed: the stream's seed.
        start: index of the first batch to yield (batches consumed before a resume).
        stop: index after the last batch to yield.
        rank, world_size: this process takes every ``world_size``-th batch from ``rank`` on.
        group: micro-batches per sorted mega-batch (1 disables length grouping).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, seed: int, start: int, stop: int,
                 rank: int = 0, world_size: int = 1, group: int = 64):
        if len(lengths) == 0:
            raise ConfigError("no training samples: the corpus split is empty")
        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.group = batch_size, seed, max(1, group)
        self.start, self.stop, self.rank, self.world_size = start, stop, rank, world_size

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        """The micro-batches of one pass over the data, in order (all ranks see the same list)."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.lengths))
        mega = self.batch_size * self.group
        batches = []
        for s in range(0, len(order), mega):
            chunk = order[s:s + mega]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        perm = rng.permutation(len(batches))
        return [batches[i] for i in perm]

    @property
    def batches_per_epoch(self) -> int:
        per_mega, n, mega = self.group, len(self.lengths), self.batch_size * self.group
        full, rest = divmod(n, mega)
        return full * per_mega + -(-rest // self.batch_size)

    def __len__(self) -> int:
        # the whole run's length, also when resumed: Lightning counts batch indices from the run's
        # start and restores how many were done, while iteration begins at ``start``
        return len(range(self.rank, self.stop, self.world_size))

    def __iter__(self) -> Iterator[list[int]]:
        bpe = self.batches_per_epoch
        epoch, cached = None, []
        for i in range(self.start + self.rank, self.stop, self.world_size):
            if i // bpe != epoch:
                epoch = i // bpe
                cached = self.epoch_batches(epoch)
            yield cached[i % bpe].tolist()


@dataclass
class Collator:
    """Right-pads a list of samples to the longest one (dynamic padding), or to ``pad_to``.

    Returns ``input_ids``, ``attention_mask``, ``labels`` (-100 on padding) as int64 tensors.
    """

    pad_id: int
    pad_to: int | None = None

    def __call__(self, samples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(s["input_ids"]) for s in samples)
        if self.pad_to is not None:
            width = max(width, self.pad_to)
        ids = torch.full((len(samples), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(samples), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(samples), width), dtype=torch.long)
        for row, s in enumerate(samples):
            n = len(s["input_ids"])
            ids[row, :n] = torch.as_tensor(np.asarray(s["input_ids"], dtype=np.int64))
            labels[row, :n] = torch.as_tensor(np.asarray(s["labels"], dtype=np.int64))
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def batch_stats(batch: dict[str, torch.Tensor]) -> dict[str, int]:
    """Real (non-pad) tokens, padded tokens and supervised target tokens of a batch."""
    return {
        "tokens": int(batch["attention_mask"].sum()),
        "padded": int(batch["attention_mask"].numel()),
        "targets": int((batch["labels"][:, 1:] != IGNORE).sum()),
    }
