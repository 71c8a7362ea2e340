"""CG-SENSE: exactness for full sampling, monotone data residual, beats zero filling, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import random_complex, smooth_maps

from recon_lib.physics.classical import cg_sense, data_residual, l1_wavelet
from recon_lib.physics.coils import sens_expand, sens_reduce
from recon_lib.physics.masks import mask_to_tensor, sample_mask

H, W, C = 160, 160, 15  # the teaching recon grid, 15 coils


def phantom(batch: int = 1) -> torch.Tensor:
    """A smooth complex test object (ellipses with a slow phase), ``(B, H, W)``."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    out = []
    for b in range(batch):
        mag = ((xx / 0.75) ** 2 + (yy / 0.9) ** 2 < 1).astype(float)
        mag += 0.6 * (((xx - 0.25 + 0.1 * b) / 0.2) ** 2 + (yy / 0.35) ** 2 < 1)
        mag -= 0.5 * (((xx + 0.3) / 0.15) ** 2 + ((yy - 0.3) / 0.15) ** 2 < 1)
        out.append(mag * np.exp(1j * (0.5 * xx + 0.3 * yy)))
    return torch.from_numpy(np.stack(out).astype(np.complex64))


def nmse(a: torch.Tensor, ref: torch.Tensor) -> float:
    return float((a - ref).abs().pow(2).sum() / ref.abs().pow(2).sum())


@pytest.fixture(scope="module")
def problem():
    x = phantom(batch=2)
    maps = smooth_maps(2, C, H, W, seed=3)
    kspace = sens_expand(x, maps)
    mask = torch.stack([mask_to_tensor(sample_mask(W, 0.08, 4, seed=s))[0] for s in (1, 2)])  # (2, 1, 1, W)
    return x, maps, kspace, mask


def test_full_mask_reproduces_sense_image(problem):
    x, maps, kspace, _ = problem
    full = torch.ones(1, 1, 1, W)
    rec = cg_sense(kspace, maps, full, num_iters=5)
    sense = sens_reduce(kspace, maps)  # the SENSE combination E^H y
    assert rec.dtype == torch.complex64 and rec.shape == (2, H, W)
    assert torch.allclose(rec, sense, atol=1e-5 * float(sense.abs().max()))
    assert nmse(rec, x) < 1e-10


def test_data_residual_decreases_monotonically(problem):
    _, maps, kspace, mask = problem
    _, hist = cg_sense(kspace, maps, mask, num_iters=12, tol=0.0, return_history=True)
    res = hist["data_residual"]  # (K + 1, B)
    assert res.shape == (13, 2)
    assert torch.allclose(res[0], torch.ones(2))  # x0 = 0 explains none of the data
    assert hist["iterates"].shape == (13, 2, H, W) and not bool(hist["iterates"][0].abs().any())
    assert bool((res[1:] <= res[:-1] * (1 + 1e-4)).all()), res
    assert float(res[-1].max()) < 0.1


def test_beats_zero_filled_and_matches_data(problem):
    x, maps, kspace, mask = problem
    rec = cg_sense(kspace, maps, mask, num_iters=20)
    zero_filled = sens_reduce(kspace, maps, mask)
    for b in range(2):
        assert nmse(rec[b], x[b]) < 0.7 * nmse(zero_filled[b], x[b])
    assert float(data_residual(rec, kspace, maps, mask).max()) < float(
        data_residual(zero_filled, kspace, maps, mask).min()
    )


def test_batch_elements_are_independent(problem):
    _, maps, kspace, mask = problem
    both = cg_sense(kspace, maps, mask, num_iters=8)
    one = cg_sense(kspace[1:], maps[1:], mask[1:], num_iters=8)
    assert torch.allclose(both[1:], one, atol=1e-4 * float(one.abs().max()))


def test_tikhonov_shrinks_and_tol_stops_early(problem):
    _, maps, kspace, mask = problem
    plain = cg_sense(kspace, maps, mask, num_iters=10)
    damped = cg_sense(kspace, maps, mask, num_iters=10, lam=1.0)
    assert float(damped.abs().pow(2).sum()) < float(plain.abs().pow(2).sum())
    _, hist = cg_sense(kspace, maps, mask, num_iters=50, tol=1e-2, return_history=True)
    assert hist["normal_residual"].shape[0] < 51
    assert float(hist["normal_residual"][-1].max()) <= 1e-2


def test_warm_start_at_solution_stays(problem):
    _, maps, kspace, _ = problem
    full = torch.ones(1, 1, 1, W)
    sense = sens_reduce(kspace, maps)
    rec = cg_sense(kspace, maps, full, num_iters=3, x0=sense)
    assert torch.allclose(rec, sense, atol=1e-5 * float(sense.abs().max()))


def test_bad_inputs_raise(problem):
    _, maps, kspace, mask = problem
    with pytest.raises(TypeError, match="kspace"):
        cg_sense(kspace.abs(), maps, mask)
    with pytest.raises(ValueError, match="maps"):
        cg_sense(kspace, maps[:, :4], mask)
    with pytest.raises(ValueError, match="kspace"):
        cg_sense(kspace[0], maps, mask)
    with pytest.raises(ValueError, match="mask"):
        cg_sense(kspace, maps, torch.ones(1, 1, 1, W + 1))
    with pytest.raises(ValueError, match="0 and 1"):
        cg_sense(kspace, maps, 0.5 * mask)
    with pytest.raises(TypeError, match="mask"):
        cg_sense(kspace, maps, mask.to(torch.complex64))
    with pytest.raises(ValueError, match="num_iters"):
        cg_sense(kspace, maps, mask, num_iters=0)
    with pytest.raises(ValueError, match="lam"):
        cg_sense(kspace, maps, mask, lam=-1.0)
    with pytest.raises(ValueError, match="x0"):
        cg_sense(kspace, maps, mask, x0=random_complex(2, H, W + 2))


def test_l1_wavelet_beats_zero_filled():
    x = phantom(batch=1)
    maps = smooth_maps(1, 8, 64, 64, seed=1)
    x = torch.nn.functional.interpolate(x.abs()[None], size=(64, 64), mode="area")[0].to(torch.complex64)
    kspace = sens_expand(x, maps)
    mask = mask_to_tensor(sample_mask(64, 0.08, 4, seed=0))
    rec = l1_wavelet(kspace, maps, mask, lam=1e-3, num_iters=20)
    assert rec.shape == (1, 64, 64) and rec.dtype == torch.complex64
    assert nmse(rec, x) < nmse(sens_reduce(kspace, maps, mask), x)
    with pytest.raises(ValueError, match="lam"):
        l1_wavelet(kspace, maps, mask, lam=0.0)


def test_l1_wavelet_is_the_same_every_run_and_keeps_the_callers_random_state():
    """sigpy picks the FISTA step by a power iteration from numpy's unseeded global generator: the
    same reconstruction differed from run to run until l1_wavelet seeded it (and restored it)."""
    import numpy as np

    x = phantom(batch=1)
    maps = smooth_maps(1, 8, 64, 64, seed=1)
    x = torch.nn.functional.interpolate(x.abs()[None], size=(64, 64), mode="area")[0].to(torch.complex64)
    kspace, mask = sens_expand(x, maps), mask_to_tensor(sample_mask(64, 0.08, 4, seed=0))
    np.random.seed(123)  # noqa: NPY002 - the caller's global state, which must survive
    expected_next = np.random.get_state()[1].copy()  # noqa: NPY002
    first = l1_wavelet(kspace, maps, mask, lam=1e-3, num_iters=10)
    assert np.array_equal(np.random.get_state()[1], expected_next)  # noqa: NPY002
    assert all(torch.equal(first, l1_wavelet(kspace, maps, mask, lam=1e-3, num_iters=10)) for _ in range(2))
