"""Prompt variants compose, render the paper's text, and hash their templates."""

import json

import pytest

from soulchat.registry import build
from soulchat.rewrite.prompts import QA
from soulchat.rewrite.source import read_qa

FIGURE_2 = (
    "请扮演一个心理咨询领域的文本改写员，将给定的【单轮长文本中文心理咨询对话】改写为多轮的共情的对话，要求如下："
    "1、多轮对话以“用户：”开始，“心理咨询师：”结束；2、“心理咨询师”的回复需要结合用户的描述内容并提供共情，如："
    "倾听、安慰、理解、信任、认可、真诚、情感支持等；3、用户和心理咨询师的对话轮数应根据对话内容决定，在8-20轮之间；"
    "4、在一轮对话当中，用户与心理咨询师的对话长度应结合对话历史，并且不宜过长。\n\n【单轮长文本中文心理咨询对话】："
    "用户：Q\n心理咨询师：A\n\n请逐步分析以上单轮对话中用户的需求以及心理咨询师的共情技巧，并且改写为多轮的共情的对话，"
    "你的改写结果为："
)


def test_soulchat_prompt_is_figure_2(compose):
    prompt = build("prompt", compose(["prompt=soulchat"]).prompt)
    assert prompt.render(QA("x", "Q", "A")) == FIGURE_2
    req = prompt.request(QA("x", "Q", "A"))
    assert req.key == {"template": prompt.template_hash, "source": QA("x", "Q", "A").record_hash()}
    assert (prompt.min_utterances, prompt.max_utterances) == (8, 20)


def test_variants_differ_and_plain_does_not_rewrite(compose):
    smile = build("prompt", compose(["prompt=smile"]).prompt)
    soulchat = build("prompt", compose(["prompt=soulchat"]).prompt)
    plain = build("prompt", compose(["prompt=plain"]).prompt)
    assert smile.template_hash != soulchat.template_hash
    assert "求助者：Q\n支持者：A" in smile.render(QA("x", "Q", "A"))
    assert not plain.rewrite
    assert plain.single_turn_dialogue(QA("x", "Q", "A")) == [
        {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]


def test_a_template_without_placeholder_is_refused(compose):
    with pytest.raises(ValueError, match="single_turn"):
        build("prompt", compose(["prompt=soulchat", "prompt.template='改写'"]).prompt)


def test_reader_psyqa_array_and_jsonl(tmp_path):
    rec = {"id": 7, "question": "怎么办？", "description": "我很难过。",
           "answers": [{"answer_text": "抱抱你。"}, {"answer_text": "慢慢来。"}]}
    (tmp_path / "a.json").write_text(json.dumps([rec], ensure_ascii=False), encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(json.dumps({**rec, "answers": ["一个回答"]}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    a, bad = read_qa(tmp_path / "a.json")
    assert bad == []
    assert [(q.id, q.question, q.answer) for q in a] == [("7-0", "怎么办？我很难过。", "抱抱你。"),
                                                         ("7-1", "怎么办？我很难过。", "慢慢来。")]
    assert [q.id for q in read_qa(tmp_path / "b.jsonl")[0]] == ["7"]
    assert len(read_qa(tmp_path / "a.json", limit=1)[0]) == 1


def test_bad_records_are_returned_with_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "question": "q", "answers": [{"answer_text": "a"}]}\n'
                   '{"id": 2, "question": "q", "answers": []}\n'
                   '{"id": 3, "question": "q", "answers": [{"answer_text": ""}]}\n', encoding="utf-8")
    qas, rejects = read_qa(bad)
    assert [q.id for q in qas] == ["1"]
    assert [(r["line"], r["field"][:10]) for r in rejects] == [(2, "answers"), (3, "answers[0]")]
    assert all("bad.jsonl, line" in r["reason"] for r in rejects)
    with pytest.raises(FileNotFoundError, match="rewrite.source"):
        read_qa(tmp_path / "missing.jsonl")


def test_stage_keeps_unreadable_records_in_invalid(run_rewrite, tmp_path):
    src = tmp_path / "qa.jsonl"
    src.write_text('{"id": 1, "question": "q", "answers": [{"answer_text": "a"}]}\n'
                   '{"id": 2, "question": "q", "answers": []}\n', encoding="utf-8")
    result, out = run_rewrite([f"rewrite.source={src}", "prompt=plain"])
    invalid = [json.loads(x) for x in (out / "invalid.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["reason"], r["line"], r["field"]) for r in invalid] == [("bad_input", 2, "answers")]
