"""docs/ARCHITECTURE.md's "How to add a reader" works as written: its one-file reader, saved into a
package of its own and registered by its one row, reads a file through the real corpus stage."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "ARCHITECTURE.md"
TALKS = """dialogue,speaker,text
t1,来访者,最近总是睡不着，脑子停不下来
t1,心理咨询师,听起来你这段时间很辛苦，睡不着的时候你通常在想什么？
t1,来访者,想工作上的事，怕做不好
t1,心理咨询师,担心做不好让你很紧张，我们可以一起看看能做些什么
t2,client,我和室友总是吵架
t2,counselor,和室友的矛盾让你很困扰吧，能说说最近一次是因为什么吗？
"""


def doc_blocks() -> list[str]:
    section = DOC.read_text(encoding="utf-8").split("### How to add a reader\n", 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]  # to the next heading (a code comment has one #)
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def newcomer_reader(tmp_path, monkeypatch):
    """The doc's reader module in package ``newcomer_pkg``, registered by the doc's row; the
    registry and Hydra's config store are put back afterwards."""
    from hydra.core.config_store import ConfigStore

    from soulchat.config import CONF_DIR
    from soulchat.registry import registry

    module, row = doc_blocks()
    pkg = tmp_path / "site" / "newcomer_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "transcripts.py").write_text(module, encoding="utf-8")
    monkeypatch.syspath_prepend(str(pkg.parent))
    reg = registry()
    monkeypatch.setitem(reg.families, "reader", dict(reg.families["reader"]))
    from newcomer_pkg.transcripts import TranscriptConfig

    exec(row.replace("soulchat.corpus.readers.transcripts", "newcomer_pkg.transcripts"),
         {"registry": reg, "TranscriptConfig": TranscriptConfig})
    reg.store_configs([CONF_DIR])  # what soulchat.config.setup does with every registered row
    yield reg.get("reader", "transcripts")
    repo = ConfigStore.instance().repo
    for group in (repo["corpus"]["reader"], repo["schema"]["reader"]):
        group.pop("transcripts.yaml", None)
    sys.modules.pop("newcomer_pkg.transcripts", None)
    sys.modules.pop("newcomer_pkg", None)


def test_the_documented_reader_is_one_file_and_one_row():
    module, row = doc_blocks()
    assert "class TranscriptReader(Reader)" in module and row.count("registry.add(") == 1


def test_a_newcomer_reader_runs_through_the_corpus_stage(newcomer_reader, run_corpus, tmp_path, compose):
    import json

    src = tmp_path / "talks.csv"
    src.write_text(TALKS, encoding="utf-8")
    sizes = ("corpus.val_size=0", "corpus.test_size=0")
    for how, overrides in (("detected", []), ("forced", ["corpus/reader=transcripts"])):
        metrics, out = run_corpus([f"corpus.source={src}", *sizes, *overrides], name=how)
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        assert stats["read"]["format"] == "transcripts" and metrics["dialogues"] == 2
        d = [json.loads(x) for x in (out / "dialogues.jsonl").read_text(encoding="utf-8").splitlines()]
        assert [m["role"] for m in d[0]["messages"]] == ["user", "assistant"] * 2
        assert d[1]["messages"][0] == {"role": "user", "content": "我和室友总是吵架"}
        assert metrics["samples_train"] == 3  # one sample per counsellor reply
    # its schema is typed at compose time like a built-in's
    assert compose(["corpus/reader=transcripts", "corpus.reader.delimiter=';'"]).corpus.reader.delimiter == ";"
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="delimitr"):
        compose(["corpus/reader=transcripts", "corpus.reader.delimitr=';'"])
    # an unknown speaker is located, not lost
    bad = tmp_path / "bad.csv"
    bad.write_text(TALKS + "t3,doctor,你好\n", encoding="utf-8")
    metrics, out = run_corpus([f"corpus.source={bad}", *sizes, "corpus.on_error=skip"], name="bad")
    reject = json.loads((out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert metrics["read_errors"] == 1 and reject["line"] == 8 and "unknown role 'doctor'" in reject["reason"]
