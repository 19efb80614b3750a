"""soulchat.segment: jieba initialised from its cache with one read gives jieba's own segmentation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

TEXT = "我最近总是失眠，心理咨询师建议我先记录自己的情绪变化。"
PROBE = """
import json, sys, time
mode = sys.argv[1]
t = time.perf_counter()
if mode == "ours":
    from soulchat.segment import jieba
    jb = jieba()
else:
    import jieba as jb
    jb.setLogLevel(30)
    jb.initialize()
print(json.dumps({"words": jb.lcut(sys.argv[2]), "fast": jb.lcut(sys.argv[2], HMM=False),
                  "freq": len(jb.dt.FREQ), "total": jb.dt.total}))
"""


def probe(mode: str, tmp) -> dict:
    env = {**os.environ, "TMPDIR": str(tmp)}  # jieba keeps its cache in the temp folder
    out = subprocess.run([sys.executable, "-c", PROBE, mode, TEXT], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fast_initialisation_matches_jieba(tmp_path):
    first = probe("ours", tmp_path)  # no cache yet: jieba builds and writes it
    assert (tmp_path / "jieba.cache").exists()
    cached = probe("ours", tmp_path)  # read with one marshal.loads
    plain = probe("jieba", tmp_path)  # jieba's own loading
    assert first == cached == plain
    assert plain["freq"] > 300_000 and "心理咨询师" in "".join(plain["words"])

    (tmp_path / "jieba.cache").write_bytes(b"not marshal")  # a damaged cache is rebuilt, not fatal
    assert probe("ours", tmp_path) == plain
