"""The run-time plumbing of training: processes (torchrun), a resumable sample order and its batches, the JSONL log."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as torch_dist
from torch.utils.data import Sampler

__all__ = ["Processes", "ShapeBatchSampler", "RunLog"]


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


def _permutation(n: int, seed: int, epoch: int) -> list[int]:
    """The shuffled order of ``n`` samples in ``epoch`` (a function of ``(seed, epoch)`` alone)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def _wrapped(items: list[int], length: int) -> list[int]:
    """``items`` repeated from its start until it is ``length`` long (how a share is padded)."""
    return (items * math.ceil(length / max(len(items), 1)))[:length]


class ShapeBatchSampler(Sampler[list[int]]):
    """Batches whose slices share one shape, in the epoch's shuffled order, sharded across ranks, resumable.

    A batch stacks its samples, and real fastMRI volumes differ in width (368, 372, ...), so a
    batch may only hold slices of one shape. The epoch's permutation (a function of the seed and
    the epoch) is split by shape; each shape's samples keep their order, are
    padded by wrapping to a multiple of ``world`` and cut into global batches of
    ``batch_size * world``; the global batches run in the order of their first sample in the
    permutation, and rank ``r`` takes positions ``r::world`` of each. Every rank thus gets the
    same number of batches, none empty (DDP steps in lockstep), and that number is the same in
    every epoch: the sum over shapes of ``ceil(ceil(n_shape / world) / batch_size)``.

    When every sample has the same shape this is exactly the order of the per-sample sampler it
    replaces (this rank's share of the permutation, wrapped to ``ceil(n / world)``) cut into batches
    of ``batch_size``: the same seed gives the same batches as before.

    Args:
        shapes: one hashable shape key per sample (e.g. its k-space and target shapes).
        batch_size: samples per batch and rank.
        seed: the order's seed (with the epoch).
        rank, world: this process and the number of processes.
    """

    def __init__(self, shapes: Sequence[Hashable], batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if batch_size < 1 or world < 1 or not 0 <= rank < world:
            raise ValueError(f"need batch_size >= 1 and 0 <= rank < world, got {batch_size}, {rank}, {world}")
        self.shapes, self.batch_size = list(shapes), batch_size
        self.seed, self.rank, self.world = seed, rank, world
        self.epoch, self.step = 0, 0

    def set_position(self, epoch: int, step: int) -> None:
        """Start at batch ``step`` of ``epoch`` (how a resumed epoch continues mid-way)."""
        self.epoch, self.step = epoch, step

    @property
    def num_batches(self) -> int:
        """Batches per epoch and rank (counted from the epoch's start)."""
        counts: dict[Hashable, int] = {}
        for shape in self.shapes:
            counts[shape] = counts.get(shape, 0) + 1
        return sum(math.ceil(math.ceil(c / self.world) / self.batch_size) for c in counts.values())

    def batches(self) -> list[list[int]]:
        """This rank's batches of the current epoch, from its start."""
        perm = _permutation(len(self.shapes), self.seed, self.epoch)
        positions: dict[Hashable, list[int]] = {}  # shape -> its samples' positions in the permutation
        for pos, index in enumerate(perm):
            positions.setdefault(self.shapes[index], []).append(pos)
        chunk = self.batch_size * self.world
        global_batches: list[list[int]] = []
        for own in positions.values():
            own = _wrapped(own, math.ceil(len(own) / self.world) * self.world)
            global_batches += [own[i : i + chunk] for i in range(0, len(own), chunk)]
        global_batches.sort(key=lambda batch: batch[0])  # a batch's first position is a real sample, never padding
        return [[perm[pos] for pos in batch[self.rank :: self.world]] for batch in global_batches]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches()[self.step :])

    def __len__(self) -> int:
        return max(0, self.num_batches - self.step)


class RunLog:
    """Append-only JSONL log of step losses and validation metrics (trimmed on resume)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def trim(self, max_step: int, drop_types: tuple[str, ...] = ()) -> None:
        """Keep the rows up to ``max_step``, less those of a type in ``drop_types`` (rows an end of
        stage writes again, such as the shipping rule's)."""
        if not (self.enabled and self.path.exists()):
            return
        rows = [ln for ln in self.path.read_text().splitlines() if ln]
        keep = [
            ln
            for ln in rows
            if json.loads(ln).get("step", 0) <= max_step and json.loads(ln).get("type") not in drop_types
        ]
        self.path.write_text("".join(ln + "\n" for ln in keep))

    def write(self, **record: Any) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")
