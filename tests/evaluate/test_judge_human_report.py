"""The CEHS judge (local server, offline default), human rating sheets and Fleiss' kappa, the report."""

from __future__ import annotations

import csv
import json

import pytest
from omegaconf import OmegaConf

from soulchat.evaluate import human
from soulchat.evaluate.judge import CEHS, parse
from soulchat.evaluate.judge import CEHSJudge as build_judge
from soulchat.evaluate.report import build_table
from soulchat.llm import InvalidOutput

PREDS = [{"id": f"s{i}", "input": f"用户：问题{i}\n心理咨询师：", "prediction": f"回复{i}", "reference": "参考",
          "model": "m", "test_set": "t"} for i in range(4)]


def _judge_cfg(store, **extra):
    from soulchat.evaluate.components import JudgeConfig

    return OmegaConf.structured(JudgeConfig(name="cehs", store=str(store), recorded=[], backoff_s=0.01,
                                            max_backoff_s=0.05, timeout_s=5.0, **extra))


@pytest.mark.parametrize("text, reason", [
    ("评分如下：content 2", "not_json"),
    ('{"content": 2, "empathy": 3, "helpfulness": 1, "safety": 1}', "out_of_range: empathy=3"),
    ('{"content": 2, "empathy": 1, "helpfulness": 1}', "missing_key: safety"),
    ('{"content": 2.0, "empathy": 1, "helpfulness": 1, "safety": 1}', "not_integer: content"),
    ('{"content": true, "empathy": 1, "helpfulness": 1, "safety": 1}', "not_integer: content"),
    ('{"content": 2, "empathy": 1, "helpfulness": 1, "safety": 1, "score": 9}', "extra_keys"),
    ("[1, 2]", "not_object"),
])
def test_parse_rejects_with_reason(text, reason):
    with pytest.raises(InvalidOutput, match=reason):
        parse(text)


def test_parse_accepts_strict_json_and_a_fence():
    ok = '{"content": 2, "empathy": 1, "helpfulness": 0, "safety": 1, "reason": "好"}'
    assert parse(ok) == {"content": 2, "empathy": 1, "helpfulness": 0, "safety": 1, "reason": "好"}
    assert parse(f"```json\n{ok}\n```")["empathy"] == 1


def test_judge_reasks_invalid_answers_and_caches(tmp_path, monkeypatch):
    from soulchat.testing.llm_server import TestServer

    seen: dict[str, int] = {}

    def responder(body):
        prompt = body["messages"][0]["content"]
        seen[prompt] = seen.get(prompt, 0) + 1
        if seen[prompt] == 1:
            return "我认为这个回复很好。"  # not JSON: must be asked again
        return json.dumps({"content": 2, "empathy": 1, "helpfulness": 2, "safety": 1, "reason": "ok"})

    monkeypatch.setenv("OPENAI_API_KEY", "test")
    with TestServer(responder=responder) as server:
        cfg = _judge_cfg(tmp_path / "store.sqlite", base_url=server.url)
        report = build_judge(cfg).rate(PREDS)
        assert report.status == "rated" and len(report.ratings) == 4
        assert all(r["attempts"] == 2 for r in report.ratings)
        assert report.means() == {"content": 2.0, "empathy": 1.0, "helpfulness": 2.0, "safety": 1.0}
        assert server.count() == 8
        body = server.chat_bodies()[0]
        assert "回复0" in body["messages"][0]["content"] or "回复" in body["messages"][0]["content"]
        assert body["temperature"] == 0.0
        again = build_judge(cfg).rate(PREDS)  # from the store: nothing sent
        assert server.count() == 8 and again.means() == report.means()
    # offline with the same store: the recorded answers are used, nothing is invented for others
    offline = build_judge(_judge_cfg(tmp_path / "store.sqlite")).rate(PREDS + [{**PREDS[0], "id": "new", "prediction": "别的"}])
    assert offline.status == "partial" and len(offline.ratings) == 4 and "1 of 5 not rated" in offline.reason


def test_judge_offline_without_recordings_is_skipped(tmp_path):
    report = build_judge(_judge_cfg(tmp_path / "empty.sqlite")).rate(PREDS)
    assert report.status == "skipped" and report.ratings == [] and report.means() == {}
    assert "judge.base_url" in report.reason


def test_fleiss_kappa_textbook_example():
    # the worked example of Fleiss' kappa on Wikipedia (10 subjects, 14 raters, 5 categories): 0.210
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
              [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert human.fleiss_kappa(counts) == pytest.approx(0.20993, abs=1e-4)
    assert human.fleiss_kappa([[3, 0], [0, 3]]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same number"):
        human.fleiss_kappa([[2, 0], [1, 0]])


def test_sheets_are_blinded_and_round_trip(tmp_path):
    preds = [{**p, "model": m, "prediction": f"{m}:{p['prediction']}"} for p in PREDS for m in ("soulchat", "chatgpt")]
    info = human.export_sheets(preds, tmp_path, CEHS, raters=3, samples=3, seed=1)
    assert info == {"raters": 3, "items": 6, "contexts": 3, "models": ["chatgpt", "soulchat"]}
    sheets = sorted((tmp_path / "sheets").glob("*.csv"))
    assert len(sheets) == 3 and len(list((tmp_path / "sheets").glob("*.html"))) == 3
    header = sheets[0].read_text(encoding="utf-8-sig").splitlines()[0]
    assert "model" not in header and "sample_id" not in header
    orders = [[r["item"] for r in csv.DictReader(open(s, encoding="utf-8-sig"))] for s in sheets]
    assert sorted(orders[0]) == sorted(orders[1]) and orders[0] != orders[1]  # same items, shuffled apart
    html = (tmp_path / "sheets" / "rater_1.html").read_text(encoding="utf-8")
    assert "Save CSV" in html and "chatgpt" not in html.split("<script>")[0].replace("chatgpt:", "")
    # raters fill them: soulchat gets empathy 2, chatgpt 1; one rater disagrees on content
    key = {r["item"]: r["model"] for r in csv.DictReader(open(tmp_path / "key" / "key.csv", encoding="utf-8"))}
    (tmp_path / "filled").mkdir()
    for n, s in enumerate(sheets):
        rows = list(csv.DictReader(open(s, encoding="utf-8-sig")))
        for r in rows:
            r.update(content=str(2 if n < 2 else 1), empathy="2" if key[r["item"]] == "soulchat" else "1",
                     helpfulness="1", safety="1")
        with open(tmp_path / "filled" / s.name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, human.sheet_fields(CEHS))
            w.writeheader()
            w.writerows(rows)
    summary = human.summarize(human.import_ratings(tmp_path / "key" / "key.csv", sorted((tmp_path / "filled").glob("*.csv")),
                                                  CEHS), CEHS)
    assert summary["means"]["soulchat"]["empathy"] == 2 and summary["means"]["chatgpt"]["empathy"] == 1
    assert summary["kappa"]["empathy"] == pytest.approx(1.0)
    assert summary["kappa"]["content"] < 0  # systematic disagreement, below chance


def test_bad_rating_is_located(tmp_path):
    human.export_sheets(PREDS, tmp_path, CEHS, raters=2, samples=2)
    sheet = tmp_path / "sheets" / "rater_1.csv"
    rows = list(csv.DictReader(open(sheet, encoding="utf-8-sig")))
    rows[1].update(content="3", empathy="1", helpfulness="1", safety="1")
    rows[0].update(content="1", empathy="1", helpfulness="1", safety="1")
    with open(sheet, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, human.sheet_fields(CEHS))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(Exception, match=r"rater_1.csv, line 3, field 'content': '3' is not a score 0-2"):
        human.import_ratings(tmp_path / "key" / "key.csv", [sheet], CEHS)


def test_report_table_layout(tmp_path):
    rows = [{"test_set": "SMILECHAT", "model": "SoulChat", "bleu-1": 35.4, "rouge-l": 21.1, "content": 1.93,
             "distinct-1": 5.0, "advice-list": 2.0},
            {"test_set": "SMILECHAT", "model": "ChatGPT", "bleu-1": 28.3, "rouge-l": 21.6}]
    table = build_table(rows, tmp_path, "t")
    header = table.markdown.splitlines()[2]
    assert header == "| Test set | Model | B-1 | R-L | Con. | D-1 | Advice% |"
    assert "| SMILECHAT | ChatGPT | 28.30 | **21.60** | – | – | – |" in table.markdown
    assert "**35.40**" in table.markdown
    assert table.csv.splitlines()[0] == "test_set,model,bleu-1,rouge-l,content,distinct-1,advice-list"
    assert (tmp_path / "t.png").stat().st_size > 1000 and (tmp_path / "t.md").exists()


def _judged(rows):
    """Two test sets: a partial model row (6 of 64 rated) beside complete ones."""
    n = {"judge": "heuristic rubric", "judge_n_heuristic": 64.0}
    return [{"test_set": "t", "model": "tuned", "bleu-1": 30.0, "content": 2.0, "empathy": 1.0, "helpfulness": 1.0,
             "safety": 1.0, **n, "judge_n_rated": 6.0, "judge_n_requested": 64.0},
            {"test_set": "t", "model": "reference", "content": 1.9, "empathy": 1.5, "helpfulness": 1.2, "safety": 1.0,
             **n, "judge_n_rated": 64.0, "judge_n_requested": 64.0},
            {"test_set": "t", "model": "untrained", "bleu-1": 10.0, "content": 0.4, "empathy": 0.3, "helpfulness": 0.5,
             "safety": 1.0, **n, "judge_n_rated": 64.0, "judge_n_requested": 64.0}, *rows]


def test_partial_cehs_cell_shows_n_and_is_never_bolded_as_best(tmp_path):
    table = build_table(_judged([]), tmp_path, "t")
    lines = table.markdown.splitlines()
    assert lines[2] == "| Test set | Model | B-1 | Con. | Emp. | Hel. | Saf. | CEHS by |"
    tuned = next(line for line in lines if "| tuned |" in line)
    assert "| 2.00 (6/64, partial) | 1.00 (6/64, partial) |" in tuned and "**2.00" not in tuned
    assert "**30.00**" in tuned  # automatic metrics do not depend on the judge's n
    # the best complete mean is bolded, with its n; the partial 2.00 above it does not count
    assert "| **1.90 (64/64)** | **1.50 (64/64)** | **1.20 (64/64)** |" in next(line for line in lines if "| reference |" in line)
    assert lines[-1] == "| t | untrained | 10.00 | 0.40 (64/64) | 0.30 (64/64) | 0.50 (64/64) | **1.00 (64/64)** | heuristic rubric |"
    rows = list(csv.DictReader(table.csv.splitlines()))
    assert list(rows[0])[-4:] == ["judge", "judge_n_rated", "judge_n_requested", "judge_n_heuristic"]
    tuned_row = next(r for r in rows if r["model"] == "tuned")
    assert (tuned_row["judge"], tuned_row["judge_n_rated"], tuned_row["judge_n_requested"]) == ("heuristic rubric", "6", "64")
    assert (tmp_path / "t.csv").read_text(encoding="utf-8").splitlines() == table.csv.splitlines()


def test_a_skipped_judge_shows_its_n_and_ranks_apart_from_other_raters():
    rows = _judged([{"test_set": "t", "model": "api", "judge": "LLM judge gpt-4o", "judge_n_rated": 0.0,
                     "judge_n_requested": 64.0},
                    {"test_set": "t", "model": "tuned (human)", "judge": "human", "content": 1.95}])
    lines = build_table(rows).markdown.splitlines()
    api = next(line for line in lines if "| api |" in line)
    assert "| – (0/64) | – (0/64) |" in api and api.endswith("| LLM judge gpt-4o |")
    human_row = next(line for line in lines if "(human)" in line)
    assert "| 1.95 |" in human_row and "**" not in human_row  # the only human row: nothing to rank it against


def test_chart_names_the_heuristic_and_each_rows_n(tmp_path):
    from soulchat.evaluate.report import figure

    fig = figure(_judged([]), "title")
    titles = [ax.get_title() for ax in fig.axes]
    assert "CEHS by heuristic rubric (0-2; Saf. 0-1)" in titles
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "t / tuned (CEHS n 6/64, partial)" in legend and "t / reference (CEHS n 64/64)" in legend
    cehs = fig.axes[titles.index("CEHS by heuristic rubric (0-2; Saf. 0-1)")]
    hatched = {p.get_hatch() for p in cehs.patches}
    assert hatched == {"//", None}  # the partial row's bars, and only those, are hatched
    build_table(_judged([]), tmp_path, "t")
    assert (tmp_path / "t.png").stat().st_size > 1000
