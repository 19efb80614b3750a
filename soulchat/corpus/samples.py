"""The tokenised sample store: one memory-mapped folder per split (``samples/<split>/``).

Layout (all little-endian, written by :class:`SampleWriter`):

- ``tokens.bin``: every sample's token ids, back to back (``uint16`` when the vocabulary fits,
  else ``int32``);
- ``offsets.npy``: ``int64[n + 1]``, sample ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``;
- ``sample`` mode: ``target_start.npy`` (``int32[n]``): the loss starts there (the input before it
  is the history, the rest is the reply and eos);
- ``dialogue`` mode: ``mask.bin`` (``uint8``, one per token): 1 where the loss is taken (every
  counsellor reply and its eos);
- ``meta.json``: mode, dtype, count, tokens.

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


class SampleSet:
    """A split of tokenised samples: ``len(ds)``, ``ds[i]``, ``ds.lengths``, ``ds.mode``.

    ``ds[i]`` is ``{"input_ids": int32 array, "labels": int32 array}`` with ``labels == -100`` where
    no loss is taken.

    Raises:
        FileNotFoundError: ``folder`` is not a finished sample store.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{self.folder} is not a sample store (no meta.json); run the corpus stage")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        self.mode: str = self.meta["mode"]
        self.offsets = np.load(self.folder / "offsets.npy", mmap_mode="r")
        n_tokens = int(self.offsets[-1])
        dtype = np.dtype(self.meta["dtype"])
        self.tokens = (np.memmap(self.folder / "tokens.bin", dtype=dtype, mode="r", shape=(n_tokens,))
                       if n_tokens else np.zeros(0, dtype))
        if self.mode == "sample":
            self.target_start = np.load(self.folder / "target_start.npy", mmap_mode="r")
        else:
            self.mask = (np.memmap(self.folder / "mask.bin", dtype=np.uint8, mode="r", shape=(n_tokens,))
                         if n_tokens else np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per sample (for length-grouped batches)."""
        return np.diff(self.offsets)

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} out of range for {len(self)} samples in {self.folder}")
        i = int(i) % len(self)
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        ids = np.asarray(self.tokens[a:b], dtype=np.int32)
        labels = ids.copy()
        if self.mode == "sample":
            labels[: int(self.target_start[i])] = IGNORE
        else:
            labels[np.asarray(self.mask[a:b]) == 0] = IGNORE
        return {"input_ids": ids, "labels": labels}


class SampleWriter:
    """Stream samples into a split folder; :meth:`close` makes it appear atomically.

    Args:
        folder: the split folder to create (``samples/train``); written as ``<folder>.tmp`` first.
        mode: ``sample`` (a target start per sample) or ``dialogue`` (a loss mask per token).
        vocab_size: picks ``uint16`` storage when every id fits.
    """

    FLUSH_TOKENS = 1 << 22

    def __init__(self, folder: str | Path, mode: str, vocab_size: int):
        self.folder = Path(folder)
        self.tmp = self.folder.with_name(self.folder.name + ".tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)
        self.mode = mode
        self.dtype = np.dtype(np.uint16 if vocab_size <= 65535 else np.int32)
        self.tok_fh = open(self.tmp / "tokens.bin", "wb")
        self.mask_fh = open(self.tmp / "mask.bin", "wb") if mode == "dialogue" else None
        self.pieces: list[np.ndarray] = []
        self.mask_pieces: list[np.ndarray] = []
        self.buffered = 0
        self.lengths: list[int] = []
        self.starts: list[int] = []

    def add(self, pieces: list[np.ndarray], length: int, target_start: int = 0,
            mask: list[np.ndarray] | None = None) -> None:
        """Append one sample given as consecutive pieces of ids (``length`` = their total)."""
        self.pieces.extend(pieces)
        if mask is not None:
            self.mask_pieces.extend(mask)
        self.lengths.append(length)
        self.starts.append(target_start)
        self.buffered += length
        if self.buffered >= self.FLUSH_TOKENS:
            self.flush()

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
        offsets = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        np.save(self.tmp / "offsets.npy", offsets)
        if self.mode == "sample":
            np.save(self.tmp / "target_start.npy", np.asarray(self.starts, dtype=np.int32))
        meta = {"mode": self.mode, "dtype": self.dtype.name, "samples": len(self.lengths),
                "tokens": int(offsets[-1]), **(extra or {})}
        (self.tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(self.tmp, self.folder)
        return meta
