"""How a network computes: precision and memory layout, the one setting every entry point follows.

Two levers make the SN's small convolutions (16-64 channels) run closer to what the CPU can do
(measured by ``benchmarks/benchmark.py``, which prints a row per lever):

* ``precision="bf16"``: the convolutions run under ``torch.autocast`` in bfloat16 (oneDNN's
  AVX-512 BF16 kernels on the CPU, tensor cores on a GPU). Everything autocast leaves in float32
  stays there: the FFTs, the coil operators and data consistency (complex64), the losses' sums,
  the optimiser's state and the stored weights.
* ``channels_last=True``: the convolution weights, and so the activations inside the Down-Up
  blocks, use the channels-last layout oneDNN's kernels prefer. The state dict is the same.

``Compute()`` is the measured default; ``Compute.fp32()`` (float32, the default layout) is one
setting away, e.g. ``compute: {precision: fp32, channels_last: false}`` in a training config.
Apple MPS runs float32 whatever is asked (autocast there is not what this was measured on).

Example:
    >>> Compute()
    Compute(precision='bf16', channels_last=True)
    >>> Compute.from_mapping({"precision": "fp32"}).precision
    'fp32'
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["PRECISIONS", "Compute"]

#: the precisions a network may compute in
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class Compute:
    """Precision and memory layout of a network's forward (and backward) pass.

    Attributes:
        precision: ``"bf16"`` (convolutions under bfloat16 autocast) or ``"fp32"``.
        channels_last: keep convolution weights (and activations) channels-last.
    """

    precision: str = "bf16"
    channels_last: bool = True

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if not isinstance(self.channels_last, bool):
            raise ValueError(f"channels_last must be true or false, got {self.channels_last!r}")

    @classmethod
    def fp32(cls) -> Compute:
        """Float32 in the default layout: what every network computed before the levers."""
        return cls(precision="fp32", channels_last=False)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Compute:
        """From a settings section such as ``{"precision": "bf16", "channels_last": true}``
        (missing keys take the defaults; an unknown key is an error naming it)."""
        values = dict(values or {})
        unknown = sorted(set(values) - {"precision", "channels_last"})
        if unknown:
            raise ValueError(f"unknown compute setting(s) {unknown}: use precision and channels_last")
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain values (for logs and checkpoint metadata)."""
        return {"precision": self.precision, "channels_last": self.channels_last}

    def prepare(self, model: nn.Module) -> nn.Module:
        """Put ``model``'s 4-D weights (the convolutions') in this layout, in place; returns ``model``."""
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        with torch.no_grad():
            for param in model.parameters():
                if param.ndim == 4:
                    param.data = param.data.contiguous(memory_format=layout)
        return model

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager[Any]:
        """The context a forward pass (and its loss) runs in on ``device``."""
        device_type = torch.device(device).type
        if self.precision == "bf16" and device_type in ("cpu", "cuda"):
            return torch.autocast(device_type, dtype=torch.bfloat16)
        return contextlib.nullcontext()
