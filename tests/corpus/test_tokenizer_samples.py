"""The tiny tokenizer (deterministic, cached, local) and the memory-mapped sample store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from soulchat.corpus.samples import SampleSet, SampleWriter
from soulchat.model.tokenizer import get_tokenizer


def model_cfg(path=None, vocab=1000):
    return OmegaConf.create({"path": path, "trust_remote_code": False, "tokenizer": {"vocab_size": vocab, "path": None}})


def test_tiny_tokenizer_is_deterministic_cached_and_complete(tmp_path):
    a = get_tokenizer(model_cfg(), tmp_path / "a")
    b = get_tokenizer(model_cfg(), tmp_path / "b")
    (fa,) = (tmp_path / "a" / "tokenizers").glob("*/tokenizer.json")
    (fb,) = (tmp_path / "b" / "tokenizers").glob("*/tokenizer.json")
    assert fa.read_bytes() == fb.read_bytes() and fa.parent.name == fb.parent.name
    assert b.get_vocab() == a.get_vocab()
    assert len(a) == 1000 and a.eos_token == "<eos>" and a.pad_token_id is not None and a.bos_token and a.unk_token
    text = "用户：我最近失眠，😢 English 龘\n心理咨询师："
    assert a.decode(a.encode(text, add_special_tokens=False)) == text  # byte-level: no unknown characters
    mtime = fa.stat().st_mtime_ns
    assert get_tokenizer(model_cfg(), tmp_path / "a").get_vocab() == a.get_vocab()
    assert fa.stat().st_mtime_ns == mtime  # loaded from the cache, not retrained
    assert get_tokenizer(model_cfg(vocab=800), tmp_path / "a").vocab_size == 800  # another size, another entry
    assert len(list((tmp_path / "a" / "tokenizers").iterdir())) == 2


def test_pretrained_tokenizer_loads_from_a_local_folder(tmp_path, tok):
    folder = tmp_path / "model"
    tok.save_pretrained(folder)
    loaded = get_tokenizer(model_cfg(path=str(folder)), tmp_path / "cache")
    assert loaded.encode("你好") == tok.encode("你好")
    with pytest.raises(FileNotFoundError, match="model.path"):
        get_tokenizer(model_cfg(path=str(tmp_path / "missing")), tmp_path / "cache")


def test_sample_store_round_trip(tmp_path):
    w = SampleWriter(tmp_path / "train", "sample", vocab_size=70000, eos_id=2)
    w.FLUSH_TOKENS = 4  # exercise several flushes
    w.add([np.array([1, 2, 3]), np.array([66000])], 4, target_start=3)
    base = w.add_sequence([np.array([7, 8, 9, 10], dtype=np.int32)], 4)  # one stored sequence, two samples
    w.add_span(base, base + 2, target_start=1)
    w.add_span(base, base + 4, target_start=3)
    meta = w.close({"eos_token_id": 2})
    assert meta["dtype"] == "int32" and meta["samples"] == 3 and meta["tokens"] == 5 + 3 + 5
    assert meta["stored_tokens"] == 8 and (tmp_path / "train" / "tokens.bin").stat().st_size == 8 * 4
    ds = SampleSet(tmp_path / "train")
    assert len(ds) == 3 and ds.lengths.tolist() == [5, 3, 5] and ds.mode == "sample"
    assert ds[0]["input_ids"].tolist() == [1, 2, 3, 66000, 2] and ds[0]["labels"].tolist() == [-100, -100, -100, 66000, 2]
    assert ds[1]["input_ids"].tolist() == [7, 8, 2] and ds[1]["labels"].tolist() == [-100, 8, 2]
    assert ds[-1]["labels"].tolist() == [-100, -100, -100, 10, 2] and ds[1]["input_ids"].dtype == np.int32
    with pytest.raises(IndexError):
        ds[3]
    assert not (tmp_path / "train.tmp").exists()
    with pytest.raises(ValueError, match="eos_id"):
        SampleWriter(tmp_path / "x", "sample", vocab_size=10)

    w = SampleWriter(tmp_path / "dlg", "dialogue", vocab_size=4000)
    w.add([np.array([5, 6, 7, 8])], 4, mask=[np.array([0, 1, 1, 0], dtype=np.uint8)])
    w.close()
    dd = SampleSet(tmp_path / "dlg")
    assert dd.meta["dtype"] == "uint16" and dd[0]["labels"].tolist() == [-100, 6, 7, -100]
    with pytest.raises(FileNotFoundError, match="corpus stage"):
        SampleSet(tmp_path / "nothing")
    meta = json.loads((tmp_path / "dlg" / "meta.json").read_text())
    (tmp_path / "dlg" / "meta.json").write_text(json.dumps({**meta, "layout": None}))  # an older store
    with pytest.raises(ValueError, match="corpus.force=true"):
        SampleSet(tmp_path / "dlg")
