"""The tokenised sample store: one memory-mapped folder per split (``samples/<split>/``).

A sample is a span of a stored token sequence, plus (in ``sample`` mode) the eos id. In ``sample``
mode a dialogue's rendered sequence (``用户：u1\n心理咨询师：p1\n…``) is stored once and every one of
its samples is a slice of it: the kept history, the counsellor prefix and the (possibly cut) reply
are contiguous there, and only the eos that ends the target is not, so it is appended on reading.
The store therefore holds each dialogue's tokens once, not once per sample (about 3.7x fewer on
SMILECHAT), yet ``ds[i]`` is exactly the sample the paper's preprocessing would have written.

Layout (all little-endian, written by :class:`SampleWriter`):

- ``tokens.bin``: the stored sequences back to back (``uint16`` when the vocabulary fits, else
  ``int32``);
- ``spans.npy``: ``int64[n, 2]``, sample ``i`` is ``tokens[start:end]`` (+ ``append_token``);
- ``sample`` mode: ``target_start.npy`` (``int32[n]``): the loss starts there, counted from the
  sample's first token (the input before it is the history, the rest is the reply and eos);
- ``dialogue`` mode: ``mask.bin`` (``uint8``, one per stored token): 1 where the loss is taken
  (every counsellor reply and its eos);
- ``meta.json``: mode, dtype, ``append_token`` (the eos id in sample mode, else null), samples,
  tokens (the samples' total length), stored_tokens.

Nothing is loaded into RAM until indexed, so a 2.3-million-sample corpus opens instantly.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

IGNORE = -100  # label where no loss is taken (PyTorch's cross-entropy ignore_index)
LAYOUT = "spans"


class SampleSet:
    """A split of tokenised samples: ``len(ds)``, ``ds[i]``, ``ds.lengths``, ``ds.mode``.

    ``ds[i]`` is ``{"input_ids": int32 array, "labels": int32 array}`` with ``labels == -100`` where
    no loss is taken.

    Raises:
        FileNotFoundError: ``folder`` is not a finished sample store.
        ValueError: the store was written in another layout (by an older soulchat).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.folder} is not a sample store (no meta.json); run the corpus stage")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("layout") != LAYOUT:
            raise ValueError(f"{self.folder}: sample store layout {self.meta.get('layout')!r}, this soulchat reads "
                             f"{LAYOUT!r}; rebuild it (corpus.force=true)")
        self.mode: str = self.meta["mode"]
        self.append = self.meta["append_token"]
        self.spans = np.load(self.folder / "spans.npy", mmap_mode="r")
        n_tokens = int(self.meta["stored_tokens"])
        dtype = np.dtype(self.meta["dtype"])
        self.tokens = (np.memmap(self.folder / "tokens.bin", dtype=dtype, mode="r", shape=(n_tokens,))
                       if n_tokens else np.zeros(0, dtype))
        if self.mode == "sample":
            self.target_start = np.load(self.folder / "target_start.npy", mmap_mode="r")
        else:
            self.mask = (np.memmap(self.folder / "mask.bin", dtype=np.uint8, mode="r", shape=(n_tokens,))
                         if n_tokens else np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per sample (for length-grouped batches)."""
        spans = np.asarray(self.spans)
        return spans[:, 1] - spans[:, 0] + (self.append is not None)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples in {self.folder}")
        i = int(i) % len(self)
        a, b = (int(x) for x in self.spans[i])
        extra = self.append is not None
        ids = np.empty(b - a + extra, dtype=np.int32)
        ids[: b - a] = self.tokens[a:b]
        if extra:
            ids[-1] = self.append
        labels = ids.copy()
        if self.mode == "sample":
            labels[: int(self.target_start[i])] = IGNORE
        else:
            labels[np.asarray(self.mask[a:b]) == 0] = IGNORE
        return {"input_ids": ids, "labels": labels}


class SampleWriter:
    """Stream sequences and samples into a split folder; :meth:`close` makes it appear atomically.

    Args:
        folder: the split folder to create (``samples/train``); written as ``<folder>.tmp`` first.
        mode: ``sample`` (a target start per sample, eos appended on reading) or ``dialogue`` (a
            loss mask per token; each sequence is one sample).
        vocab_size: picks ``uint16`` storage when every id fits.
        eos_id: the id appended to every sample in ``sample`` mode (required there).
    """

    FLUSH_TOKENS = 1 << 22

    def __init__(self, folder: str | Path, mode: str, vocab_size: int, eos_id: int | None = None):
        if mode == "sample" and eos_id is None:
            raise ValueError("SampleWriter: sample mode needs eos_id (appended to every sample)")
        self.folder = Path(folder)
        self.tmp = self.folder.with_name(self.folder.name + ".tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.mode = mode
        self.append = int(eos_id) if mode == "sample" else None
        self.dtype = np.dtype(np.uint16 if vocab_size <= 65535 else np.int32)
        self.tok_fh = open(self.tmp / "tokens.bin", "wb")
        self.mask_fh = open(self.tmp / "mask.bin", "wb") if mode == "dialogue" else None
        self.pieces: list[np.ndarray] = []
        self.mask_pieces: list[np.ndarray] = []
        self.buffered = 0
        self.stored = 0  # tokens written or buffered so far: where the next sequence starts
        self.starts: list[int] = []
        self.ends: list[int] = []
        self.target_starts: list[int] = []

    def add_sequence(self, pieces: list[np.ndarray], length: int, mask: list[np.ndarray] | None = None) -> int:
        """Store a token sequence given as consecutive pieces (``length`` = their total); return
        where it starts, for :meth:`add_span`."""
        start = self.stored
        self.pieces.extend(pieces)
        if mask is not None:
            self.mask_pieces.extend(mask)
        self.stored += length
        self.buffered += length
        if self.buffered >= self.FLUSH_TOKENS:
            self.flush()
        return start

    def add_span(self, start: int, end: int, target_start: int = 0) -> None:
        """A sample: stored tokens ``[start, end)`` (+ eos in sample mode), the loss from ``target_start``."""
        self.starts.append(start)
        self.ends.append(end)
        self.target_starts.append(target_start)

    def add(self, pieces: list[np.ndarray], length: int, target_start: int = 0,
            mask: list[np.ndarray] | None = None) -> None:
        """Store a sequence that is one whole sample."""
        start = self.add_sequence(pieces, length, mask)
        self.add_span(start, start + length, target_start)

    def flush(self) -> None:
        if self.pieces:
            # one pass: the pieces are cast while they are copied (every id fits self.dtype)
            self.tok_fh.write(np.concatenate(self.pieces, dtype=self.dtype, casting="unsafe").data)
        if self.mask_pieces:
            self.mask_fh.write(np.concatenate(self.mask_pieces, dtype=np.uint8, casting="unsafe").data)
        self.pieces, self.mask_pieces, self.buffered = [], [], 0

    def close(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Finish the files, rename the folder into place, return its meta."""
        self.flush()
        self.tok_fh.close()
        if self.mask_fh:
            self.mask_fh.close()
        spans = np.empty((len(self.starts), 2), dtype=np.int64)
        spans[:, 0], spans[:, 1] = self.starts, self.ends
        np.save(self.tmp / "spans.npy", spans)
        if self.mode == "sample":
            np.save(self.tmp / "target_start.npy", np.asarray(self.target_starts, dtype=np.int32))
        tokens = int((spans[:, 1] - spans[:, 0]).sum()) + (len(spans) if self.append is not None else 0)
        meta = {"layout": LAYOUT, "mode": self.mode, "dtype": self.dtype.name, "append_token": self.append,
                "samples": len(spans), "tokens": tokens, "stored_tokens": self.stored, **(extra or {})}
        (self.tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self.tmp, self.folder)
        return meta
