"""The fast JSON Lines writer (orjson) writes exactly what the standard library writes."""

from __future__ import annotations

import json

import pytest

from soulchat import io as fastjson
from soulchat.io import dumps

TRICKY = [
    {"id": "a", "messages": [{"role": "user", "content": "控制\u0001\u001f字符\t\n\r\b\f \"引号\" \\ / \u2028 \x7f 😀"}]},
    {"id": 7, "n": None, "f": [0.1, 2.5e300, -0.0, 1.0], "big": 2 ** 70, "t": True, "nested": {"k": ["v", {}]}},
    {"id": "s", "lone": "\ud800"},  # only the standard library writes this (and it cannot be UTF-8 encoded)
]


@pytest.fixture(params=["orjson", "stdlib"])
def backend(request, monkeypatch):
    if request.param == "orjson":
        pytest.importorskip("orjson")
    else:
        monkeypatch.setattr(fastjson, "orjson", None)
    return request.param


def test_dumps_line_gives_soulchat_io_bytes(backend):
    for rec in TRICKY[:2]:
        assert fastjson.dumps_line(rec) == (dumps(rec) + "\n").encode("utf-8")
    # floats in exponent form may be spelled differently (1e-07 / 1e-7) but read back the same
    assert json.loads(fastjson.dumps_line({"f": 1e-7})) == {"f": 1e-7}
    with pytest.raises(UnicodeEncodeError):  # as soulchat.io's writer: a lone surrogate is no UTF-8 text
        fastjson.dumps_line(TRICKY[2])


def test_write_jsonl_round_trip(tmp_path, backend):
    path = tmp_path / "out.jsonl"
    assert fastjson.write_jsonl(path, TRICKY[:2]) == 2
    assert [json.loads(x) for x in path.read_text(encoding="utf-8").split("\n")[:-1]] == TRICKY[:2]
    assert not path.with_name("out.jsonl.tmp").exists()
