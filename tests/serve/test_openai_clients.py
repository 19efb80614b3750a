"""soulchat's own OpenAI client against ``soulchat serve`` of a trained tiny model: ``python -m soulchat
stages=[generate,evaluate] generator=openai generator.base_url=<server>/v1`` (the shared LLM client, the
bearer key from the environment), then the evaluate stage on what it generated."""

from __future__ import annotations

import json
from pathlib import Path

from chat_support import KEY, get_json, soulchat


def test_generate_and_evaluate_through_the_server(keyed_server, trained):
    url, *_ = keyed_server
    outputs = trained["outputs"]
    before = get_json(f"{url}/health")["requests"]
    proc = soulchat(["stages=[generate,evaluate]", "generator=openai", f"generator.base_url={url}/v1",
                     "generator.model=soulchat", "generator.api_key_env=SERVE_TEST_KEY", "generate.max_samples=6",
                     "generate.max_new_tokens=16", "tracking.experiment=chat-tests-openai"],
                    env={"SOULCHAT_OUTPUTS": str(outputs), "SERVE_TEST_KEY": KEY})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = max(outputs.glob("runs/*/*/run.json"), key=lambda p: p.stat().st_mtime)
    cache = json.loads(run.read_text(encoding="utf-8"))["cache"]
    preds = [json.loads(line) for line in
             (Path(cache["generate"]) / "predictions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(preds) == 6
    assert all(p["settings"]["base_url"] == f"{url}/v1" and isinstance(p["prediction"], str) for p in preds)
    metrics = json.loads((Path(cache["evaluate"]) / "metrics.json").read_text(encoding="utf-8"))["metrics"]
    assert any("bleu" in k.lower() for k in metrics) and any("rouge" in k.lower() for k in metrics)
    assert get_json(f"{url}/health")["requests"] - before >= 6  # the server answered them, not a recorded store
    assert KEY not in proc.stdout + proc.stderr
