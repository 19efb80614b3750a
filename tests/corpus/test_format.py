"""The paper's input format and its token-budget truncation, shared by training and inference."""

from __future__ import annotations

import numpy as np
import pytest

from soulchat.corpus.format import Template, encode_input, encode_target, history_start, render_input

HISTORY = [{"role": "user", "content": "我最近很焦虑"}, {"role": "assistant", "content": "听起来你很辛苦"},
           {"role": "user", "content": "是的，睡不着"}, {"role": "assistant", "content": "多久了？"},
           {"role": "user", "content": "一个月了"}]


def test_render_input_is_the_papers_format():
    assert render_input(HISTORY[:1]) == "用户：我最近很焦虑\n心理咨询师："
    assert render_input(HISTORY) == ("用户：我最近很焦虑\n心理咨询师：听起来你很辛苦\n用户：是的，睡不着\n"
                                     "心理咨询师：多久了？\n用户：一个月了\n心理咨询师：")


def test_pieces_concatenate_to_the_rendered_text(tok):
    ids = encode_input(tok, HISTORY)
    assert tok.decode(ids) == render_input(HISTORY)
    # with this byte-level BPE, pieces split where its pre-tokenizer splits: same ids as the whole text
    assert ids == tok.encode(render_input(HISTORY), add_special_tokens=False)
    tgt = encode_target(tok, "我在这里陪你")
    assert tgt[-1] == tok.eos_token_id and tok.decode(tgt[:-1]) == "我在这里陪你"
    assert len(encode_target(tok, "我在这里陪你" * 50, max_target_tokens=8)) == 8


def lengths_of(tok, messages):
    return [len(tok.encode(m["content"], add_special_tokens=False)) for m in messages]


def test_budget_drops_oldest_whole_turns_never_the_newest_user_message(tok):
    full = encode_input(tok, HISTORY)
    last_turn = encode_input(tok, HISTORY[-1:])
    two_turns = encode_input(tok, HISTORY[2:])
    assert encode_input(tok, HISTORY, max_input_tokens=len(full)) == full
    assert encode_input(tok, HISTORY, max_input_tokens=len(full) - 1) == two_turns  # a whole turn goes
    assert encode_input(tok, HISTORY, max_input_tokens=len(two_turns)) == two_turns
    assert encode_input(tok, HISTORY, max_input_tokens=len(last_turn)) == last_turn
    # the newest message alone does not fit: training drops the sample, inference keeps its tail
    tpl = Template.of(tok)
    seg = tpl.segment_lengths([m["role"] for m in HISTORY], lengths_of(tok, HISTORY))
    cum = [0] + np.cumsum(seg).tolist()
    assert history_start(cum, [0, 2, 4], 5, len(tpl.counsellor), len(last_turn) - 1, None) is None
    assert encode_input(tok, HISTORY, max_input_tokens=len(last_turn) - 1) == last_turn[1:]


def test_max_history_turns(tok):
    assert encode_input(tok, HISTORY, max_history_turns=0) == encode_input(tok, HISTORY[-1:])
    assert encode_input(tok, HISTORY, max_history_turns=1) == encode_input(tok, HISTORY[2:])
    assert encode_input(tok, HISTORY, max_history_turns=5) == encode_input(tok, HISTORY)


def test_history_must_end_with_the_user(tok):
    with pytest.raises(ValueError, match="ends with the user"):
        encode_input(tok, HISTORY[:2])
