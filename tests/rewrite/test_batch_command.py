"""`soulchat batch prepare/submit`: the stage's own requests through the Batch API, then the stage."""

import json

from soulchat.rewrite.batch import main as batch_main


def test_batch_then_stage_answers_from_the_store(server, run_rewrite, outputs, capsys):
    overrides = server.overrides() + ["rewrite.limit=6"]
    assert batch_main(["prepare", *overrides]) == 0
    files = list((outputs / "batches").glob("rewrite-soulchat-*.jsonl"))
    assert len(files) == 1
    lines = [json.loads(x) for x in files[0].read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 6 and lines[0]["body"]["messages"][0]["content"].startswith("请扮演")
    assert batch_main(["submit", "--poll", "0.01", *overrides]) == 0
    assert "6 answers stored" in capsys.readouterr().out
    assert server.count() == 0 and server.count("/v1/batches") == 1
    result, _ = run_rewrite(overrides)
    assert result.metrics["store_hits"] == 6 and result.metrics["network"] == 0
    assert server.count() == 0
