"""The run-time plumbing of training: processes (torchrun), a resumable sample order, the JSONL log."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
from torch.utils.data import Sampler

__all__ = ["Processes", "EpochSampler", "RunLog"]


class Processes:
    """Rank / world size of a torchrun launch (rank 0 of 1 when not distributed)."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not torch_dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch_dist.init_process_group(backend=backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()


class EpochSampler(Sampler[int]):
    """Deterministic shuffled order per ``(seed, epoch)``, sharded across ranks, resumable.

    Every rank gets ``ceil(n / world)`` indices (the permutation wraps to pad); ``start`` skips
    the first indices of this rank's share, which is how a resumed epoch continues mid-way.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        per_rank = math.ceil(self.n / self.world)
        reps = math.ceil(per_rank * self.world / max(self.n, 1))
        perm = (perm * reps)[: per_rank * self.world]
        return perm[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, math.ceil(self.n / self.world) - self.start)


class RunLog:
    """Append-only JSONL log of step losses and validation metrics (trimmed on resume)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def trim(self, max_step: int) -> None:
        if not (self.enabled and self.path.exists()):
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= max_step]
        self.path.write_text("".join(ln + "\n" for ln in keep))

    def write(self, **record: Any) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
