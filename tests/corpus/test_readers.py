"""Every format is detected and read into canonical records; bad input is located, never lost."""

from __future__ import annotations

import gzip
import json

import pytest

from soulchat.corpus.readers.base import build_readers, detect
from soulchat.io import InputError

EXPECTED = [{"role": "user", "content": "我最近很焦虑"}, {"role": "assistant", "content": "听起来你很辛苦"},
            {"role": "user", "content": "是的"}, {"role": "assistant", "content": "我们一起想办法"}]


def all_readers():
    return build_readers({"name": "auto"})


def read_all(path, fmt=None):
    readers = all_readers()
    fmt = fmt or detect(path, readers)
    return fmt, list(readers[fmt].read(path))


def messages_of(items):
    assert all(i.error is None for i in items), [str(i.error) for i in items if i.error]
    return [i.dialogue["messages"] for i in items]


def test_smilechat_jsonl_and_soulchatcorpus(tmp_path, write_jsonl):
    smile = write_jsonl("smile.jsonl", [{"id": "smile-7", "messages": [
        {"role": "client", "content": "我最近很焦虑"}, {"role": "counselor", "content": "听起来你很辛苦"},
        {"role": "client", "content": "是的"}, {"role": "counselor", "content": " 我们一起想办法 "}]}])
    fmt, items = read_all(smile)
    assert fmt == "messages" and messages_of(items) == [EXPECTED]
    assert items[0].dialogue["id"] == "smile-7" and items[0].line == 1

    soul = tmp_path / "soulchatcorpus.json"  # a JSON array with topics, as released
    soul.write_text(json.dumps([{"id": 3, "topic": "情绪", "messages": EXPECTED}], ensure_ascii=False), encoding="utf-8")
    fmt, items = read_all(soul)
    assert fmt == "messages" and messages_of(items) == [EXPECTED] and items[0].dialogue["topic"] == "情绪"


def test_smilechat_release_folder_and_older_form(tmp_path):
    folder = tmp_path / "smilechat"
    folder.mkdir()
    (folder / "12.json").write_text(json.dumps([
        {"role": "client", "content": "我最近很焦虑", "annotation": "x"},
        {"role": "counselor", "content": "听起来你很辛苦", "annotation": ""},
        {"role": "client", "content": "是的"}, {"role": "counselor", "content": "我们一起想办法"}], ensure_ascii=False),
        encoding="utf-8")
    (folder / "13.json").write_text(json.dumps(["求助者：我最近很焦虑", "支持者:听起来你很辛苦", "求助者：是的",
                                                "支持者：我们一起想办法"], ensure_ascii=False), encoding="utf-8")
    fmt, items = read_all(folder)
    assert fmt == "smilechat"
    assert messages_of(items) == [EXPECTED, EXPECTED]
    assert [i.dialogue["id"] for i in items] == ["smile-12", "smile-13"]


def test_plain_text_paper_and_cpsycound(tmp_path):
    paper = tmp_path / "paper.txt"
    paper.write_text("用户：我最近很焦虑\n心理咨询师:听起来你很辛苦\n用户：是的\n心理咨询师：我们一起想办法\n---\n"
                     "用户：第二段\n心理咨询师：好的\n", encoding="utf-8")
    fmt, items = read_all(paper)
    assert fmt == "text" and messages_of(items)[0] == EXPECTED and len(items) == 2
    cpsy = tmp_path / "cpsycound.txt"  # 来访者 / 心理咨询师 with blank lines, a continuation line
    cpsy.write_text("来访者：我最近很焦虑\n\n心理咨询师：听起来你\n很辛苦\n\n来访者：是的\n\n心理咨询师：我们一起想办法\n",
                    encoding="utf-8")
    fmt, items = read_all(cpsy)
    assert fmt == "text"
    assert messages_of(items)[0][1]["content"] == "听起来你\n很辛苦"


def test_psyqa_sharegpt_llama_factory(write_jsonl):
    qa = write_jsonl("qa.jsonl", [{"id": "q1", "question": "怎么办？", "description": "我很焦虑", "keywords": "情绪",
                                   "answers": [{"answer_text": "先休息"}, {"answer_text": "去散步"}], "topic": "情绪"}])
    fmt, items = read_all(qa)
    assert fmt == "psyqa" and [i.dialogue["id"] for i in items] == ["q1-0", "q1-1"]
    assert messages_of(items)[0] == [{"role": "user", "content": "怎么办？我很焦虑"}, {"role": "assistant", "content": "先休息"}]

    sg = write_jsonl("sg.jsonl", [{"conversations": [{"from": "system", "value": "你是咨询师"}] + [
        {"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]} for m in EXPECTED]}])
    fmt, items = read_all(sg)
    assert fmt == "sharegpt" and messages_of(items) == [EXPECTED]

    lf = write_jsonl("lf.jsonl", [{"instruction": "是的", "input": "", "output": "我们一起想办法",
                                   "history": [["我最近很焦虑", "听起来你很辛苦"]]}])
    fmt, items = read_all(lf)
    assert fmt == "llama_factory" and messages_of(items) == [EXPECTED]


@pytest.mark.parametrize("fmt", ["messages", "sharegpt", "llama_factory"])
def test_export_round_trip(fmt, write_jsonl):
    reader = all_readers()[fmt]
    d = {"id": "x-1", "source": "demo", "topic": "情绪", "messages": EXPECTED}
    path = write_jsonl(f"{fmt}.jsonl", [reader.export(d)])
    assert detect(path, all_readers()) == fmt
    (item,) = list(reader.read(path))
    assert item.dialogue["messages"] == EXPECTED and item.dialogue["id"] == "x-1"


def test_gzip_is_read(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"id": "g", "messages": EXPECTED}, ensure_ascii=False) + "\n")
    assert messages_of(read_all(path)[1]) == [EXPECTED]


def test_damaged_gzip_is_located_not_a_traceback(tmp_path):
    line = json.dumps({"id": "g", "messages": EXPECTED}, ensure_ascii=False) + "\n"
    blob = gzip.compress((line * 2000).encode("utf-8"))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(blob[: len(blob) // 2])  # truncated: the first records read, then the stream ends
    items = list(all_readers()["messages"].read(cut))
    good, bad = [i for i in items if i.error is None], [i for i in items if i.error is not None]
    assert len(good) > 0 and len(bad) == 1 and bad[0].line == len(good) + 1
    assert str(bad[0].error).startswith(f"{cut}, line {len(good) + 1}: not a readable gzip file")
    garbage = tmp_path / "garbage.jsonl.gz"
    garbage.write_bytes(b"\x1f\x8b\x08\x00" + b"not deflate" * 8)
    [item] = list(all_readers()["messages"].read(garbage))
    assert "not a readable gzip file" in str(item.error) and str(garbage) in str(item.error)


def bad_items(path, fmt="messages"):
    return [i for i in all_readers()[fmt].read(path) if i.error is not None]


def test_bad_records_are_located(tmp_path, write_jsonl):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps({"id": "ok", "messages": EXPECTED}, ensure_ascii=False),
             '{"id": "broken", "messages": [',
             json.dumps({"id": "r", "messages": [{"role": "doctor", "content": "x"}]}),
             json.dumps({"id": "e", "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]})]
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8") + "用户".encode("gbk") + b"\n")
    errors = bad_items(path)
    where = [(e.error.line, e.error.field) for e in errors]
    assert where == [(2, None), (3, "messages[0].role"), (5, None)]  # an empty utterance is not a read error
    assert "not valid JSON" in str(errors[0].error) and str(path) in str(errors[0].error)
    assert "unknown role 'doctor'" in str(errors[1].error)
    assert "not UTF-8" in str(errors[2].error)


def test_empty_file_and_undetectable_format(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    (err,) = bad_items(empty)
    assert "empty file" in str(err.error) and err.path == str(empty)
    odd = tmp_path / "odd.jsonl"
    odd.write_text('{"foo": 1}\n', encoding="utf-8")
    with pytest.raises(InputError, match="corpus/reader=<name>"):
        detect(odd, all_readers())


def test_detection_asks_readers_by_priority_not_registration_order(write_jsonl):
    """A more specific reader ranks above the general one its records also pass; ties go by name."""
    from soulchat.corpus.readers.base import ReaderConfig
    from soulchat.corpus.readers.messages import MessagesReader

    class Tagged(MessagesReader):  # {messages, tag}: a messages record too
        def detect(self, p):
            return super().detect(p) and "tag" in p.record

    path = write_jsonl("tagged.jsonl", [{"tag": 1, "messages": EXPECTED}])
    readers = {"tagged": Tagged(ReaderConfig(name="tagged")), **all_readers()}
    assert detect(path, readers) == "messages"  # the same priority (50): "messages" < "tagged"
    Tagged.priority = 51
    assert detect(path, readers) == "tagged"
    assert detect(path, dict(reversed(readers.items()))) == "tagged"  # the dict's order plays no part


def test_yaml_reader_variant_and_every_reader_option_composes(compose, tmp_path):
    """conf/corpus/reader/*.yaml and every registered reader are options of corpus/reader."""
    from soulchat.config import CONF_DIR
    from soulchat.registry import registry

    options = {p.stem for p in (CONF_DIR / "corpus" / "reader").glob("*.yaml")} | set(registry().families["reader"])
    for option in sorted(options):
        node = compose([f"corpus/reader={option}"]).corpus.reader
        assert node.name == option or (option, node.name) in {("cpsycound", "text")}, option
    node = compose(["corpus/reader=cpsycound"]).corpus.reader
    cpsy = tmp_path / "c.txt"
    cpsy.write_text("来访者：我最近很焦虑\n心理咨询师：听起来你很辛苦\n用户：这行不是 CPsyCounD 的说话人\n", encoding="utf-8")
    readers = build_readers(node)
    (item,) = list(readers["text"].read(cpsy))
    assert item.dialogue["source"] == "cpsycound"
    assert item.dialogue["messages"][1]["content"] == "听起来你很辛苦\n用户：这行不是 CPsyCounD 的说话人"
    assert readers["text"].speakers == {"心理咨询师": "assistant", "来访者": "user"}


def test_reader_names_and_options_are_checked(compose):
    with pytest.raises(KeyError, match="corpus.reader.name='nope' is not a reader"):
        build_readers({"name": "nope"})
    with pytest.raises(KeyError, match="fit no reader"):
        build_readers({"name": "auto", "speakers": ["x"]})
    from omegaconf.errors import ConfigKeyError

    with pytest.raises(ConfigKeyError, match="user_speaker"):
        build_readers({"name": "text", "user_speaker": ["x"]})
