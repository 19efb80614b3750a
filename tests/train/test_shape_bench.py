"""benchmarks/train_bench.py --shape: a real family's shape, shrunk, trained for a few steps on the CPU
with the stage's own loop; throughput, model FLOPs, peak memory and the memory plan reported."""

from __future__ import annotations

import importlib.util
import math

import pytest

from tests.conftest import REPO


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def linear_params(c, lora_r: int | None = None) -> tuple[int, int]:
    """(trainable, frozen) parameters of a Qwen2 decoder's linear layers, counted from its sizes."""
    h, heads, kv, q, ffn = c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.intermediate_size
    attention = h * heads * q + heads * q + 2 * (h * kv * q + kv * q) + heads * q * h  # q/k/v carry biases
    per_layer = attention + 3 * h * ffn
    if lora_r is None:
        return c.num_hidden_layers * per_layer, 0
    adapters = lora_r * ((h + heads * q) + 2 * (h + kv * q) + (heads * q + h))  # A: in x r, B: r x out
    return c.num_hidden_layers * adapters, c.num_hidden_layers * per_layer


def test_shrunk_qwen_trains_and_reports_throughput_flops_and_memory(tmp_path):
    bench = load("train_bench")
    seq, micro = 48, 2
    res = bench.main(["--shape", "qwen2_5-0.5b", "--scale-down", "--seq-len", str(seq), "--micro-batch", str(micro),
                      "--steps", "2", "--warmup-steps", "1", "--set", "model.dtype=float32",
                      "--set", "train.accelerator=cpu", "--json", str(tmp_path / "r.json")])
    c = res["config"]
    # the family's architecture, smaller: grouped-query heads and tying as in Qwen2.5-0.5B
    assert (c["num_attention_heads"], c["num_key_value_heads"], c["tie_word_embeddings"]) == (14, 2, True)
    assert c["num_hidden_layers"] == 2 and c["vocab_size"] == 4096 and c["hidden_size"] == 14 * 16

    assert res["timed_steps"] == 2 and res["seconds"] > 0
    assert res["tokens_per_step"] == micro * seq and res["targets_per_step"] == micro * (seq - 1)
    assert res["tokens_per_s"] == pytest.approx(2 * micro * seq / res["seconds"])

    # model FLOPs against a count from the sizes alone
    from types import SimpleNamespace

    cfg = SimpleNamespace(**c)
    trainable, _ = linear_params(cfg)
    tokens, targets = micro * seq, micro * (seq - 1)
    expected = {"linear": 6 * trainable * tokens, "output": 6 * c["vocab_size"] * c["hidden_size"] * targets,
                "attention": 12 * c["num_hidden_layers"] * c["num_attention_heads"] * c["head_dim"] * seq * tokens}
    assert res["flops_per_step"] == pytest.approx(expected, rel=1e-9)
    assert res["tflops"] == pytest.approx(sum(expected.values()) * 2 / res["seconds"] / 1e12, rel=1e-6)

    # CPU: no MFU without a peak; peak RSS measured from before the model was built
    assert res["mfu"] is None and res["peak_tflops"] is None
    m = res["memory"]
    assert m["kind"] == "peak RSS" and m["peak"] >= m["before"] > 0
    # the plan counts fp32 weights (4 bytes) without DeepSpeed: the built weights exactly
    assert m["weights_built"] == res["parameters"] * 4 == m["plan"]["weights"]
    assert m["plan"]["total"] > m["plan"]["weights"]

    # a random-initialised model on random tokens: the loss starts near ln(vocabulary)
    assert all(math.isfinite(x) for x in res["losses"])
    assert abs(res["losses"][0] - math.log(c["vocab_size"])) < 0.5
    assert (tmp_path / "r.json").exists()


def test_flops_count_frozen_base_at_four_per_parameter_under_lora():
    """LoRA's frozen base costs forward + input gradient (4), its adapters and nothing else 6."""
    from omegaconf import OmegaConf

    from soulchat.model import shapes
    from soulchat.model.finetune import lora

    bench = load("shape_bench")
    config = shapes.scaled(shapes.config_of("qwen2_5-0.5b"), layers=2, hidden=224, vocab=512)
    model = lora(OmegaConf.create({"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": None}),
                 shapes.meta_model(config), ["q_proj", "k_proj", "v_proj", "o_proj"])
    trainable, frozen = linear_params(config, lora_r=4)
    flops = bench.model_flops(model, config, tokens=100, targets=30, seq=50)
    assert flops["linear"] == 100 * (6 * trainable + 4 * frozen)
    assert flops["output"] == 30 * 4 * 512 * 224  # tied to the frozen embedding


def test_peak_table_and_cpu():
    bench = load("shape_bench")
    assert bench.peak_tflops("cpu", True, None)[0] is None
    assert bench.peak_tflops("cpu", True, 2.5) == (2.5, "--peak-tflops")


def test_scaled_shape_rejects_a_hidden_size_the_heads_do_not_divide():
    from soulchat.errors import ConfigError
    from soulchat.model import shapes

    with pytest.raises(ConfigError, match="multiple of the 14 attention heads"):
        shapes.scaled(shapes.config_of("qwen2_5-0.5b"), hidden=100)


def test_flops_of_the_full_shape_whose_config_derives_the_head_size():
    """Qwen2.5-0.5B's published config sets no head_dim: heads of 896 / 14 = 64; built on the meta device."""
    from soulchat.model import shapes

    bench = load("shape_bench")
    config = shapes.config_of("qwen2_5-0.5b")
    flops = bench.model_flops(shapes.meta_model(config), config, tokens=1024, targets=1000, seq=512)
    assert flops["attention"] == 12 * 24 * 14 * 64 * 512 * 1024
    assert flops["output"] == 6 * 151936 * 896 * 1000
    non_embedding = shapes.count(shapes.meta_model(config))[0] - 151936 * 896
    assert flops["linear"] == pytest.approx(6 * non_embedding * 1024, rel=1e-3)  # norms aside


def test_an_unknown_shape_or_several_devices_stop_with_the_reason():
    bench = load("shape_bench")
    with pytest.raises(SystemExit, match="unknown; known: qwen2_5-0.5b"):
        bench.main(["--shape", "qwen2_5-3b"])
    with pytest.raises(SystemExit, match="train.devices x train.num_nodes must be 1"):
        bench.main(["--shape", "qwen2_5-0.5b", "--scale-down", "--set", "train.devices=2"])


@pytest.mark.parametrize("finetune", ["full", "lora"])
def test_the_plans_weight_bytes_are_the_trained_models_under_bf16_loading_and_mixed_precision(tmp_path, finetune):
    """Loaded in bf16, trained under bf16-mixed: fp32 trainable weights, a LoRA base left in bf16."""
    bench = load("train_bench")
    res = bench.main(["--shape", "qwen2_5-0.5b", "--scale-down", "--seq-len", "16", "--micro-batch", "1",
                      "--steps", "1", "--warmup-steps", "1", "--set", "model.dtype=bfloat16",
                      "--set", "train.precision=bf16-mixed", "--set", f"finetune={finetune}",
                      "--set", "train.accelerator=cpu"])
    m, total, trainable = res["memory"], res["parameters"], res["trainable"]
    assert m["weights_built"] == (total if finetune == "full" else total - trainable) * 2  # loaded, before LoRA
    assert m["weights_trained"] == trainable * 4 + (total - trainable) * 2 == m["plan"]["weights"]
    assert m["plan"]["gradients"] == trainable * 4 and m["plan"]["optimizer"] == trainable * 8
    assert (trainable == total) == (finetune == "full")
