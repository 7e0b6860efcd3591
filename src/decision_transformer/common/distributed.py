"""Data-parallel training with `torchrun` (DDP). Without torchrun everything here is a no-op.

Scheme: every rank holds the same sampler RNG and draws the same global batch of
`batch_size * world_size` windows, then keeps its own slice. So `--batch-size` is per rank, the RNG
state in rank 0's checkpoint is every rank's, and a resumed DDP run continues exactly: on the same number of
processes, which the checkpoint records (trainer.py's `Trainer.restore` refuses another). Rank 0 alone logs, evaluates and writes
checkpoints.

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


def _env_int(name: str, default: str | None = None) -> int:
    raw = os.environ.get(name, default)
    if raw is None:
        raise ValueError(f"environment variable {name} is not set; a distributed run (WORLD_SIZE > 1) needs it "
                         "(start it with torchrun)")
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r}: expected an integer (torchrun sets it)") from None


def setup(device: str) -> DistInfo:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA). WORLD_SIZE, RANK
    and LOCAL_RANK are checked first (integers, 0 <= RANK < WORLD_SIZE, LOCAL_RANK >= 0): a ValueError naming the
    variable, not a wait for torch's timeout."""
    world_size = _env_int("WORLD_SIZE", "1")
    if world_size < 1:
        raise ValueError(f"environment variable WORLD_SIZE={world_size}: expected an integer >= 1")
    if world_size == 1:
        return DistInfo()
    local_rank = _env_int("LOCAL_RANK", "0")
    if not dist.is_initialized():
        rank = _env_int("RANK")
        if not 0 <= rank < world_size:
            raise ValueError(f"environment variable RANK={rank}: expected 0 <= RANK < WORLD_SIZE={world_size}")
        if not 0 <= local_rank < world_size:
            raise ValueError(f"environment variable LOCAL_RANK={local_rank}: expected 0 <= LOCAL_RANK < "
                             f"WORLD_SIZE={world_size}")
        dist.init_process_group(backend="nccl" if device.startswith("cuda") else "gloo")
    if device.startswith("cuda"):
        if not 0 <= local_rank < torch.cuda.device_count():
            raise ValueError(f"environment variable LOCAL_RANK={local_rank}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        torch.cuda.set_device(local_rank)
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
