"""Shared fixtures: realistic-size random complex data and property-check helpers."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

# Tests must be deterministic and leave the user's home untouched.
os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, torch.get_num_threads()))


def random_complex(*shape: int, seed: int = 0, dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(*shape, generator=g, dtype=torch.float64)
    imag = torch.randn(*shape, generator=g, dtype=torch.float64)
    return torch.complex(real, imag).to(dtype)


def smooth_maps(batch: int, coils: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth, normalised (sum |S|^2 = 1) coil maps from a few low-order polynomials."""
    g = np.random.default_rng(seed)
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = np.zeros((batch, coils, h, w), dtype=np.complex128)
    for b in range(batch):
        for c in range(coils):
            angle = 2 * np.pi * c / coils
            cx, cy = 1.3 * np.cos(angle), 1.3 * np.sin(angle)
            mag = 1.0 / (1.0 + ((xx - cx) ** 2 + (yy - cy) ** 2) * g.uniform(1.0, 2.0))
            phase = g.uniform(-1, 1) * xx + g.uniform(-1, 1) * yy + g.uniform(-np.pi, np.pi)
            maps[b, c] = mag * np.exp(1j * phase)
    maps /= np.sqrt((np.abs(maps) ** 2).sum(axis=1, keepdims=True))
    return torch.from_numpy(maps.astype(np.complex64))


@pytest.fixture
def rng_maps():
    return smooth_maps


@pytest.fixture
def fast_espirit(monkeypatch):
    """Replace ESPIRiT by a cheap stand-in (normalised low-resolution coil images) for the tests
    of file handling, where the maps' quality does not matter; content tests use the real one."""

    def stand_in(kspace: torch.Tensor, **kwargs) -> torch.Tensor:
        H_, W_ = kspace.shape[-2:]
        low = torch.zeros_like(kspace)
        low[..., H_ // 2 - 8 : H_ // 2 + 8, W_ // 2 - 8 : W_ // 2 + 8] = kspace[
            ..., H_ // 2 - 8 : H_ // 2 + 8, W_ // 2 - 8 : W_ // 2 + 8
        ]
        maps = normalize_maps(ifft2c(low))
        return maps[..., H_ // 4 : H_ // 4 + H_ // 2, :] if kwargs.get("crop_readout") else maps

    from recon_lib.data import prepare
    from recon_lib.physics.coils import normalize_maps
    from recon_lib.physics.fft import ifft2c

    monkeypatch.setattr(prepare, "espirit_maps", stand_in)


# ---- the robustness sweep's counts (issue: no silent wrong result, no raw traceback) --------------
#: test modules whose every test is one bad input or fault that must end in a clear error
FAULT_MODULES = (
    "test_faults.py",
    "test_checkpoint.py",
    "test_faults_outputs.py",
    "test_faults_training.py",
    "test_faults_data.py",
)
_fault_outcomes: dict[str, int] = {"passed": 0, "failed": 0, "skipped": 0}


def pytest_runtest_logreport(report):
    if report.nodeid.split("::")[0].rsplit("/", 1)[-1] not in FAULT_MODULES:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _fault_outcomes[report.outcome] = _fault_outcomes.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    cases = sum(_fault_outcomes.values())
    if cases:
        terminalreporter.write_line(
            f"robustness sweep ({', '.join(FAULT_MODULES)}): {cases} cases (bad inputs and faults, a few "
            f"good-input controls): {_fault_outcomes['passed']} behave (one clear error, nothing lost), "
            f"{_fault_outcomes['failed']} do not (a silent result, a traceback or lost data), "
            f"{_fault_outcomes['skipped']} skipped"
        )
