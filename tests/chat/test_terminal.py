"""``soulchat chat`` driven through its stdin, and the conversation's encoding against training's."""

from __future__ import annotations

import json

from chat_support import soulchat

from soulchat.chat.config import DISCLOSURE, disclosure_text
from soulchat.guard.components import HOTLINES

OPENING = disclosure_text(DISCLOSURE, HOTLINES)


def chat(args, lines, env=None):
    return soulchat(["chat", *args], env=env, input="".join(f"{line}\n" for line in lines), timeout=300)


def test_terminal_chat_streams_guards_saves_resets(trained, tmp_path):
    transcript = tmp_path / "talk.json"
    proc = chat([str(trained["hf"]), "generate.max_new_tokens=16"],
                ["我最近总是失眠，心里很烦。", "我真的撑不下去了，今晚就想自杀。", "/save " + str(transcript),
                 "/reset", "/save " + str(tmp_path / "after.json"), "/nonsense", "你好", "/exit", "not read"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.startswith(OPENING) and "12356" in OPENING  # the disclosure with the hotlines comes first
    assert out.count("心理咨询师：") == 2 and out.count("【安全提示】") == 1
    assert "12356" in out[len(OPENING):]  # the crisis answer's hotline
    assert "未知命令 /nonsense" in out and "对话已重置" in out
    saved = json.loads(transcript.read_text(encoding="utf-8"))
    assert [m["role"] for m in saved["messages"]] == ["user", "assistant", "user", "assistant"]
    assert saved["messages"][3]["guard"] == "suicide" and "guard" not in saved["messages"][1]
    assert saved["disclosure"] == OPENING and saved["model"] == str(trained["hf"])
    assert json.loads((tmp_path / "after.json").read_text(encoding="utf-8"))["messages"] == []  # reset
    assert "not read" not in out  # /exit ended it


def test_default_model_is_the_latest_run_and_a_run_id_works(trained):
    env = {"SOULCHAT_OUTPUTS": str(trained["outputs"])}
    for args in ([], [trained["run_id"]]):
        proc = chat(args, ["/exit"], env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert f"（模型：{trained['hf']}）" in proc.stdout


def test_no_model_is_one_clear_line(tmp_path):
    proc = chat([], ["/exit"], {"SOULCHAT_OUTPUTS": str(tmp_path)})
    assert proc.returncode == 2
    assert "no trained model under" in proc.stderr and "make run" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = chat([str(tmp_path)], ["/exit"])
    assert proc.returncode == 2 and "config.json missing" in proc.stderr


def test_custom_disclosure_and_bad_overrides(trained):
    proc = chat([str(trained["hf"]), 'chat.disclosure="本服务由 AI 提供"'], ["/exit"])
    assert proc.returncode == 0 and proc.stdout.startswith("本服务由 AI 提供\n")
    proc = chat([str(trained["hf"]), "guard.hotlines=[Samaritans-116123,Lifeline-988]"], ["/exit"])
    assert proc.returncode == 0 and proc.stdout.splitlines()[0].endswith("Samaritans-116123；Lifeline-988。")
    for bad in ("chat.disclosure=本服务", "chat.nonsense=1"):
        proc = chat([str(trained["hf"]), bad], ["/exit"])
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and "soulchat chat:" in proc.stderr


def test_history_is_encoded_as_training_saw_it(trained, compose):
    """The chat's input ids equal the exported chat template's and keep the training budget: oldest whole
    turns go first, whatever ``corpus.max_input_tokens`` the chat's own config says."""
    from transformers import AutoTokenizer

    from soulchat.chat.model import load_engine

    cfg = compose(["corpus.max_input_tokens=4000", "tracking.enabled=false"])
    engine = load_engine(cfg, str(trained["hf"]), 1)
    try:
        assert engine.gen.max_input_tokens == 256  # the tiny scale's budget, saved beside the model
        tok = AutoTokenizer.from_pretrained(trained["hf"])
        history = [{"role": "user", "content": "我和男朋友异地恋，最近总吵架。"},
                   {"role": "assistant", "content": "听起来你们的沟通遇到了困难，能说说吵架的原因吗？"},
                   {"role": "user", "content": "他总说我不理解他，我也很委屈。"}]
        ids = tok.apply_chat_template(history, add_generation_prompt=True, tokenize=True)["input_ids"]
        assert engine.encode(history) == list(ids)
        long = [{"role": r, "content": f"第{i}轮，" + "我很难过，" * 12} for i in range(12) for r in ("user", "assistant")]
        long = long[:-1]
        cut = engine.encode(long)
        assert len(cut) <= 256
        text = tok.decode(cut)
        assert text.replace(" ", "").startswith("用户：")  # a whole turn first, never half of one
        assert "第11轮" in text.replace(" ", "") and "第0轮" not in text.replace(" ", "")
    finally:
        engine.close()
