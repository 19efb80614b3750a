"""Progress off a terminal: log lines at a steady interval instead of silence."""

from __future__ import annotations

import logging

from soulchat import progress


def test_log_lines_at_most_once_per_interval_and_at_the_end(caplog, monkeypatch):
    caplog.set_level(logging.INFO, logger="soulchat.progress")
    monkeypatch.setattr(progress, "is_terminal", lambda: False)
    clock = [0.0]
    bar = progress.bar(range(100), desc="work", unit=" items", interval=10)
    bar._time = lambda: clock[0]  # tqdm's clock
    bar.start_t = bar.last_print_t = 0.0
    for _ in bar:
        clock[0] += 1.0  # 100 items, one second each: a line every 10 s
    lines = [r.getMessage() for r in caplog.records if r.name == "soulchat.progress"]
    assert 8 <= len(lines) <= 13, lines
    assert lines[-1].startswith("work: 100%") and "100/100" in lines[-1]


def test_a_terminal_gets_tqdm_itself(monkeypatch):
    monkeypatch.setattr(progress, "is_terminal", lambda: True)
    b = progress.bar(range(3), disable=True)
    assert type(b).__name__ == "tqdm"
    b.close()


def test_every_fires_once_per_interval(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("time.monotonic", lambda: now[0])
    every = progress.Every(5)
    fired = []
    for _ in range(20):
        fired.append(every())
        now[0] += 1
    assert fired.count(True) == 4 and fired[0]
