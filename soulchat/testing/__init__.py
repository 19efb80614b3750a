"""Tooling for tests and benchmarks, not used by any stage: a local OpenAI-compatible server
(:mod:`.llm_server`) and real text pairs for metric checks (:mod:`.pairs`)."""
