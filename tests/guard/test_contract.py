"""The guard family's contract: every registered guard satisfies the Protocol, verdicts are
well-formed, the crisis answer carries the configured hotlines, the metric set counts flags."""

from __future__ import annotations

import dataclasses

import pytest
from omegaconf import OmegaConf

from soulchat.guard import CATEGORIES, Guard, Verdict
from soulchat.registry import build, registry


def test_every_registered_guard_satisfies_the_protocol():
    comps = registry().families["guard"]
    assert "crisis" in comps
    for name, comp in comps.items():
        g = build("guard", OmegaConf.structured(comp.schema(name=name)))
        assert isinstance(g, Guard), name
        for verdict in (g.screen_user("你好"), g.screen_user("我不想活了", []), g.screen_reply("我在听。")):
            assert isinstance(verdict, Verdict)


def test_verdict_is_frozen_and_checked():
    v = Verdict(True, "suicide", "suicide.intent")
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.flagged = False
    with pytest.raises(ValueError):
        Verdict(True, "sadness", "x")
    with pytest.raises(ValueError):
        Verdict(False, "suicide", "x")


def test_a_concern_has_a_category_and_is_not_flagged():
    v = Verdict(False, "suicide", "concern.suicide", concern=True)
    assert not v.flagged and v.concern
    with pytest.raises(ValueError, match="not both"):
        Verdict(True, "suicide", "x", concern=True)
    with pytest.raises(ValueError, match="category"):
        Verdict(False, None, "x", concern=True)


def test_default_config_builds_the_crisis_guard(guard):
    hit = guard.screen_user("我不想活了")
    assert hit.flagged and hit.category in CATEGORIES and hit.reason.startswith("suicide.")
    assert not guard.screen_user("今天天气不错，我们去散步吧").flagged
    assert guard.screen_reply("你可以去死").category == "unsafe_reply"


def test_response_uses_the_configured_hotlines(compose):
    cfg = compose(["guard.hotlines=['测试热线：000-1234']"])
    g = build("guard", cfg.guard)
    text = g.response(g.screen_user("我想自杀"))
    assert "测试热线：000-1234" in text and "{hotlines}" not in text
    assert "12356" not in text  # only the configured numbers
    abuse = g.response(g.screen_user("我老公每天都打我"))
    assert "110" in abuse and abuse != text  # abuse has its own answer


def test_disabled_guard_flags_nothing(compose):
    g = build("guard", compose(["guard.enabled=false"]).guard)
    assert not g.screen_user("我想自杀").flagged and g.screen_user("我想自杀").reason == "disabled"


def test_empty_response_is_a_config_error(compose):
    with pytest.raises(ValueError, match="guard.response"):
        build("guard", compose(["guard.response=' '"]).guard)


def test_guard_metric_set_counts_replies_and_inputs(compose):
    metric = build("metric_set", compose(["metric_set=guard"]).metric_set)
    metric.update(["你可以去死", "听起来你很难过，愿意多说一些吗？"], ["参考", "参考"])
    assert metric.compute() == {"guard-replies": pytest.approx(50.0), "guard-replies-n": 2}
    metric.update(["我在听"], ["参考"], inputs=["我想自杀"])
    out = metric.compute()
    assert out["guard-replies"] == pytest.approx(100 / 3) and out["guard-inputs"] == pytest.approx(100.0)
    assert (out["guard-replies-n"], out["guard-inputs-n"]) == (3, 1)
    with pytest.raises(ValueError, match="inputs"):
        metric.update(["a"], ["b"], inputs=["x", "y"])


def test_guard_metric_set_counts_concerns_apart_from_flags():
    from omegaconf import OmegaConf

    from soulchat.guard import learned
    from soulchat.guard.components import CrisisGuardConfig
    from soulchat.guard.crisis import CrisisGuard
    from soulchat.guard.metric import GuardRate

    model = learned.fit(["我想紫砂", "好想紫砂了", "真的想紫砂", "今天天气很好", "我想去吃火锅", "我在学做饭"],
                        ["suicide", "suicide", "suicide", "none", "none", "none"])
    guard = CrisisGuard(OmegaConf.structured(CrisisGuardConfig(name="crisis")), model=model)
    inputs = ["唉，好想紫砂", "我想自杀", "今天去吃火锅", "周末在家学做饭"]
    assert guard.screen_user(inputs[0]).concern and not guard.screen_user(inputs[0]).flagged  # the premise
    metric = GuardRate(guard=guard)
    metric.update(["我在听"] * 4, ["参考"] * 4, inputs=inputs)
    out = metric.compute()
    assert out["guard-inputs"] == pytest.approx(25.0) and out["guard-concerns"] == pytest.approx(25.0)
    assert out["guard-inputs-n"] == 4
