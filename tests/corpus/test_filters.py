"""The cleaning chain: each filter's rule, its counts, and the typed chain config."""

from __future__ import annotations

import pytest

from soulchat.corpus.filters import Reject, build_chain


def make(name, **kw):
    (flt,) = build_chain({name: kw})
    return flt


def dlg(*turns, id="d"):
    roles = {"u": "user", "a": "assistant"}
    return {"id": id, "messages": [{"role": roles[r], "content": c} for r, c in turns]}


def rejects(f, d):
    with pytest.raises(Reject) as err:
        f(d)
    return err.value.reason


def test_format_fixes_or_rejects_what_smilechat_has():
    f = make("format")
    fixed = f(dlg(("a", "你好"), ("u", "我很难过"), ("u", "睡不着"), ("a", "我在听"), ("u", "谢谢")))
    assert [m["role"] for m in fixed["messages"]] == ["user", "assistant"]
    assert fixed["messages"][0]["content"] == "我很难过 睡不着"
    assert f.counts["merged"] == f.counts["dropped_leading"] == f.counts["dropped_trailing"] == 1
    assert rejects(f, dlg(("u", "在吗"), ("u", "有人吗"))) == "no counsellor message"
    assert f.counts["rejected"] == 1 and f.counts["seen"] == 2
    strict = make("format", same_role="reject", trailing_user="reject", leading_counsellor="reject")
    assert "same role" in rejects(strict, dlg(("u", "a"), ("u", "b"), ("a", "c")))
    assert "ends with the user" in rejects(strict, dlg(("u", "a"), ("a", "b"), ("u", "c")))
    assert "opens with the counsellor" in rejects(strict, dlg(("a", "a"), ("u", "b"), ("a", "c")))
    with pytest.raises(ValueError, match="same_role"):
        make("format", same_role="glue")


def test_sensitive_strings_are_configuration():
    f = make("sensitive")
    assert "'自杀'" in rejects(f, dlg(("u", "我想过自杀"), ("a", "谢谢你告诉我")))
    assert f.counts["string:自杀"] == 1
    ok = dlg(("u", "我很累"), ("a", "我在"))
    assert f(ok) is ok
    custom = make("sensitive", strings=["很累"], roles=["assistant"])
    assert custom(ok) is ok  # only the counsellor's messages are searched
    assert "很累" in rejects(custom, dlg(("u", "嗯"), ("a", "你很累吧")))


@pytest.mark.parametrize("text,kind,masked", [
    ("我的电话是13812345678", "phone", "我的电话是[电话]"),
    ("打给 138-1234-5678 吧", "phone", "打给 [电话] 吧"),
    ("邮箱 someone@example.com 可以联系", "email", "邮箱 [邮箱] 可以联系"),
    ("身份证110101199003071234", "id_card", "身份证[身份证号]"),
    ("加我QQ：123456789", "qq", "加我QQ：[QQ号]"),
    ("微信号: wx_abc123 随时", "wechat", "微信号: [微信号] 随时"),
])
def test_privacy_masks_or_rejects(text, kind, masked):
    f = make("privacy")
    out = f(dlg(("u", text), ("a", "好的")))
    assert out["messages"][0]["content"] == masked and f.counts[kind] == 1 and f.counts["masked"] == 1
    assert kind in rejects(make("privacy", action="reject"), dlg(("u", text), ("a", "好的")))


def test_privacy_leaves_ordinary_numbers():
    f = make("privacy")
    d = dlg(("u", "我今年23岁，考了589分，2023年毕业"), ("a", "好的"))
    assert f(d) is d and f.counts["masked"] == 0


def test_turn_and_length_bounds():
    # a turn is a user message and its reply (the paper's 用户/心理咨询师 pair, as max_history_turns)
    turns = make("turns", min_turns=3, max_turns=4)
    assert "2 turns < min_turns=3" in rejects(turns, dlg(*[("u", "a"), ("a", "b")] * 2))
    eight = dlg(*[("u", "a"), ("a", "b")] * 4)  # 8 messages, 4 turns
    assert turns(eight) is eight
    assert "5 turns > max_turns=4" in rejects(turns, dlg(*[("u", "a"), ("a", "b")] * 5))
    length = make("length", min_chars=2, max_chars=5)
    assert "messages[1] has 6 characters" in rejects(length, dlg(("u", "你好"), ("a", "一二三四五六")))
    assert "messages[0] has 1 characters" in rejects(length, dlg(("u", "嗯"), ("a", "你好")))


def test_dedup_exact_and_near():
    f = make("dedup")
    long = "我最近压力很大，每天加班到很晚，回家以后也睡不着，总觉得自己做得不够好，害怕被领导批评。" * 4
    reply = "听起来你承受了很多压力，这确实不容易。可以和我说说最近让你最担心的是什么吗？" * 3
    a = dlg(("u", long), ("a", reply), id="first")
    assert f(a) is a
    assert "exact duplicate of first" in rejects(f, dlg(("u", long), ("a", reply), id="again"))
    near = dlg(("u", long), ("a", reply + "谢谢你。"), id="near")
    assert "near duplicate of first" in rejects(f, near)
    other = dlg(("u", "和室友相处得不好，宿舍里没人和我说话，我很孤单，不知道该怎么办。" * 4),
                ("a", "被孤立的感觉很难受，你愿意说说是从什么时候开始的吗？" * 3), id="other")
    assert f(other) is other
    assert f.counts["exact"] == 1 and f.counts["near"] == 1


def test_short_dialogues_are_not_near_duplicates_of_each_other():
    f = make("dedup")
    assert f(dlg(("u", "你好"), ("a", "你好呀"), id="1"))
    d = dlg(("u", "我失眠"), ("a", "多久了"), id="2")
    assert f(d) is d


def test_chain_is_typed_and_ordered(compose):
    from hydra.errors import ConfigCompositionException

    from soulchat.corpus.filters import build_chain

    cfg = compose(["corpus.filters.sensitive.enabled=false", "corpus.filters.turns.min_turns=2"])
    chain = build_chain(cfg.corpus.filters)
    assert [f.name for f in chain] == ["format", "length", "turns", "privacy", "dedup"]
    assert chain[2].cfg.min_turns == 2
    with pytest.raises(ConfigCompositionException, match="strngs"):
        compose(["corpus.filters.sensitive.strngs=[x]"])
    # a second instance of a filter under another key, e.g. for a plugin-provided rule
    cfg = compose(["+corpus.filters.strict={name: sensitive, strings: ['困']}"])
    assert [f.name for f in build_chain(cfg.corpus.filters)][-1] == "strict"
    with pytest.raises(KeyError, match="valid"):
        build_chain(compose(["+corpus.filters.nope={name: nope}"]).corpus.filters)


def test_corpus_options_are_checked_at_compose_time(compose):
    from hydra.errors import ConfigCompositionException

    for bad in ("corpus.on_error=skipp", "corpus.mode=dialog", "corpus.max_history_turn=2"):
        with pytest.raises(ConfigCompositionException):
            compose([bad])
    assert compose(["corpus.on_error=skip"]).corpus.on_error == "skip"


def test_dedup_survives_a_long_text_with_no_sampled_shingle():
    # one repeated character: every shingle hashes alike and the mod-4 sample may keep none
    f = make("dedup")
    d = dlg(("u", "啊" * 400), ("a", "嗯" * 400), id="1")
    assert f(d) is d
    assert "exact duplicate of 1" in rejects(f, dlg(("u", "啊" * 400), ("a", "嗯" * 400), id="2"))


def test_yaml_filter_variant_and_registered_filters_as_options(compose):
    """conf/corpus/filter/*.yaml (settings-only variants) and registered filters are typed options of
    corpus/filter, placed into the chain under a key of one's choice."""
    from hydra.errors import ConfigCompositionException

    cfg = compose(["+corpus/filter@corpus.filters.privacy=privacy_reject"])
    chain = build_chain(cfg.corpus.filters)
    privacy = next(f for f in chain if f.name == "privacy")
    assert "qq in messages[0]" == rejects(privacy, dlg(("u", "加我QQ：123456789"), ("a", "好")))
    cfg = compose(["+corpus/filter@corpus.filters.strict=sensitive", "corpus.filters.strict.strings=['困']"])
    assert [f.name for f in build_chain(cfg.corpus.filters)][-1] == "strict"
    with pytest.raises(ConfigCompositionException, match="strngs"):
        compose(["+corpus/filter@corpus.filters.strict=sensitive", "corpus.filters.strict.strngs=['困']"])
