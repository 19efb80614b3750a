"""The response store: two writers of the same key never overwrite each other's answer."""

from __future__ import annotations

import multiprocessing as mp

from soulchat.llm.store import ResponseStore, Stored


def _write(path: str, text: str, start) -> None:
    start.wait()
    store = ResponseStore(path)
    for i in range(50):
        store.put(Stored(f"k{i}", f"item{i}", 1, "m", f"{text}-{i}", "stop", 1, 1, {}))
    store.close()


def test_the_first_answer_under_a_key_is_kept(tmp_path):
    store = ResponseStore(tmp_path / "s.sqlite")
    store.put(Stored("k", "item", 1, "m", "first", "stop", 1, 1, {}))
    store.put(Stored("k", "item", 1, "m", "second", "stop", 1, 1, {}))
    assert store.get("k").text == "first" and len(store) == 1


def test_two_processes_writing_the_same_keys_keep_one_whole_answer_each(tmp_path):
    path = str(tmp_path / "s.sqlite")
    ResponseStore(path).close()
    start = mp.get_context("spawn").Event()
    procs = [mp.get_context("spawn").Process(target=_write, args=(path, name, start)) for name in ("a", "b")]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = ResponseStore(path)
    assert len(store) == 50
    for i in range(50):
        assert store.get(f"k{i}").text in (f"a-{i}", f"b-{i}")
