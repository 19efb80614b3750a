"""The parser tolerates what models write; the validator names the broken constraint."""

import pytest

from soulchat.llm import InvalidOutput
from soulchat.rewrite.parse import parse_dialogue, validate_dialogue


def roles(text):
    return [(m["role"], m["content"]) for m in parse_dialogue(text).messages]


def test_colons_numbering_blank_lines_and_speaker_aliases():
    text = """好的，下面先分析用户的需求。

1. 用户: 我最近睡不好。
2、心理咨询师：听起来你很辛苦。

(3) **求助者**：是的，
已经一个月了。
第4轮 支持者： 我理解你的感受。
- 来访者：谢谢。
咨询师（小李）：不客气。"""
    assert roles(text) == [
        ("user", "我最近睡不好。"), ("assistant", "听起来你很辛苦。"),
        ("user", "是的，\n已经一个月了。"), ("assistant", "我理解你的感受。"),
        ("user", "谢谢。"), ("assistant", "不客气。"),
    ]
    assert parse_dialogue(text).preamble == "好的，下面先分析用户的需求。"


def test_consecutive_lines_of_one_speaker_are_merged():
    parsed = parse_dialogue("用户：你好\n用户：在吗\n心理咨询师：在的")
    assert parsed.messages == [{"role": "user", "content": "你好\n在吗"}, {"role": "assistant", "content": "在的"}]
    assert parsed.merged == 1


def dialogue(n, first="用户", meta=""):
    speakers = [first, "心理咨询师" if first == "用户" else "用户"]
    return "\n".join(f"{speakers[i % 2]}：第{i}句话{meta if i == n - 1 else ''}" for i in range(n))


@pytest.mark.parametrize("text, reason", [
    ("抱歉，我无法完成。", "no_dialogue"),
    (dialogue(10, first="心理咨询师"), "starts_with_counsellor"),
    (dialogue(9), "ends_with_user"),
    (dialogue(6), "too_few_utterances"),
    (dialogue(22), "too_many_utterances"),
    (dialogue(10, meta="。以上是改写结果"), "meta_text"),
    ("用户：你好\n心理咨询师：\n用户：嗯\n心理咨询师：好" * 1, "empty_utterance"),
])
def test_each_constraint_has_its_reason(text, reason):
    with pytest.raises(InvalidOutput, match=f"^{reason}:"):
        validate_dialogue(parse_dialogue(text), 8, 20)


def test_a_valid_dialogue_passes():
    msgs = validate_dialogue(parse_dialogue(dialogue(10)), 8, 20)
    assert len(msgs) == 10 and msgs[0]["role"] == "user" and msgs[-1]["role"] == "assistant"
