"""Data-parallel training with `torchrun` (DDP). Without torchrun everything here is a no-op.

Scheme: every rank holds the same sampler RNG and draws the same global batch of
`batch_size * world_size` windows, then keeps its own slice. So `--batch-size` is per rank, the RNG
state in rank 0's checkpoint is every rank's, and a resumed DDP run continues exactly. Rank 0 alone
logs, evaluates and writes checkpoints.

    torchrun --nproc_per_node 2 -m decision_transformer.cli train --dataset ... --out runs/ddp
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup(device: str) -> DistInfo:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def mean_across_ranks(value: float, info: DistInfo) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t.item()) / info.world_size
