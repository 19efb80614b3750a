"""What a generator is (a ``typing.Protocol``); tests/foundation/test_contracts.py checks every
registered one."""

from __future__ import annotations

from typing import Any, Iterator, Protocol, Sequence, runtime_checkable


@runtime_checkable
class Generator(Protocol):
    """A ``generator`` component: ``factory(cfg, root_cfg, model_dir)`` builds it (``model_dir``:
    the train stage's ``hf/`` folder, None when ``uses_trained_model`` is false)."""

    def settings(self) -> dict[str, Any]:
        """What produced the replies (recorded with every prediction)."""
        ...

    def generate(self, samples: Sequence[dict], done: set[str] = frozenset()) -> Iterator[list[tuple[dict, str]]]:
        """Finished batches ``[(sample, reply), ...]``, skipping the ids in ``done``."""
        ...
