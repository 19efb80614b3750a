"""benchmarks/peer_train_bench.py's soulchat half: a smoke run on 20 real dialogues (no LLaMA-Factory)."""

from __future__ import annotations

import importlib.util
import math

import pytest

from tests.conftest import REPO, SHARED_DATA


def load_bench():
    spec = importlib.util.spec_from_file_location("peer_train_bench", REPO / "benchmarks" / "peer_train_bench.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.shared
def test_soulchat_half_covers_every_reply_and_learns(tmp_path):
    bench = load_bench()
    res = bench.main(["--dialogues", "20", "--val-dialogues", "10", "--soulchat-only", "--work", str(tmp_path)])
    s = res["soulchat"]
    assert "peer" not in res

    # every counsellor reply of the training dialogues is a target, whole, with its eos: nothing cut
    from soulchat.model.tokenizer import get_tokenizer

    cfg = bench.compose_cfg(res["spec"], tmp_path)
    tok = get_tokenizer(cfg.model, cfg.paths.cache)
    dialogues = bench.load_dialogues(SHARED_DATA, 20)
    replies = [m["content"] for d in dialogues for m in d["messages"] if m["role"] == "assistant"]
    assert res["spec"]["replies"] == len(replies)
    assert s["targets"] == sum(len(tok.encode(r, add_special_tokens=False)) + 1 for r in replies)

    # one epoch at the micro-batch, every figure measured, and the held-out loss went down
    assert s["steps"] == math.ceil(20 / res["spec"]["micro_batch"]) == len(s["losses"])
    assert s["threads"] == 1 and s["dtype"] == "torch.float32"
    assert s["prep_s"] > 0 and s["train_s"] > 0 and s["rss_mb"] > 100
    assert math.isfinite(s["val_loss"]) and s["val_loss"] < res["val_loss_init"] - 0.05
    assert (tmp_path / "soulchat" / "hf" / "config.json").exists()
