"""``strategy`` factories: Lightning strategies, including DeepSpeed on the CPU.

Lightning's :class:`DeepSpeedStrategy` refuses any accelerator but CUDA; :class:`CPUDeepSpeedStrategy`
lifts that check so DeepSpeed's ZeRO engine runs on the CPU over gloo (how the tests train under
ZeRO-2 and ZeRO-3 on a laptop). On GPUs it is the stock strategy.
"""

from __future__ import annotations

import argparse
from typing import Any

from lightning_fabric.utilities.seed import reset_seed
from pytorch_lightning.accelerators import CUDAAccelerator
from pytorch_lightning.strategies import DDPStrategy, DeepSpeedStrategy

from soulchat.train.plan import deepspeed_config, uses_deepspeed


class CPUDeepSpeedStrategy(DeepSpeedStrategy):
    """DeepSpeed that also accepts the CPU accelerator (process group over gloo)."""

    strategy_name = "deepspeed_cpu"

    def setup_environment(self) -> None:
        if isinstance(self.accelerator, CUDAAccelerator):
            super().setup_environment()
        else:  # skip DeepSpeedStrategy's CUDA-only check, keep the rest of the set-up
            DDPStrategy.setup_environment(self)

    def setup_distributed(self) -> None:
        if isinstance(self.accelerator, CUDAAccelerator):
            return super().setup_distributed()
        # CPU "devices" have no index to check against the local rank
        reset_seed()
        self.set_world_ranks()
        self._init_deepspeed_distributed()

    def _setup_model_and_optimizer(self, model: Any, optimizer: Any, lr_scheduler: Any = None) -> Any:
        if isinstance(self.accelerator, CUDAAccelerator):
            return super()._setup_model_and_optimizer(model, optimizer, lr_scheduler)
        import deepspeed

        # the stock strategy passes the CUDA index (None on the CPU); DeepSpeed wants the local rank
        engine, ds_optimizer, _, _ = deepspeed.initialize(
            args=argparse.Namespace(device_rank=self.local_rank), config=self.config, model=model,
            model_parameters=[p for p in model.parameters() if p.requires_grad],
            optimizer=optimizer, lr_scheduler=lr_scheduler, dist_init_required=False)
        return engine, ds_optimizer


def build(cfg: Any, micro_batch_size: int = 1, accelerator: str = "cpu") -> Any:
    """The Lightning strategy for ``cfg`` (a config node of the ``strategy`` group)."""
    on_gpu = accelerator in ("gpu", "cuda")
    backend = cfg.get("backend") or ("nccl" if on_gpu else "gloo")
    if uses_deepspeed(cfg):
        return CPUDeepSpeedStrategy(config=deepspeed_config(cfg, micro_batch_size),
                                    process_group_backend=backend)
    if cfg.name == "ddp" or cfg.get("find_unused_parameters") is not None:
        return DDPStrategy(process_group_backend=backend,
                           find_unused_parameters=bool(cfg.find_unused_parameters))
    return "auto"
