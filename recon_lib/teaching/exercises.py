"""The notebooks' exercises: a check for each, a solution to reveal, and a fallback so the notebook runs on.

An exercise cell (tagged ``exercise``) asks the student for a short function, then hands it to
:func:`check`::

    def hard_dc(k_pred, k_measured, mask):
        raise NotImplementedError  # your code here (one line)

    hard_dc = exercises.check("hard_dc", hard_dc)

:func:`check` runs the function on small test inputs and compares it with the library's answer:

* **not done yet** (the function still raises ``NotImplementedError``): a message says so and the
  library's solution is returned, so the rest of the notebook still runs;
* **wrong**: :class:`ExerciseError` says what is wrong (shape, dtype, which values, an adjoint
  that is not one) -- never just "wrong";
* **right**: a short confirmation; the student's own function is returned.

``exercises.solution("hard_dc")`` prints the solution's source (reveal it when stuck).

**Open** exercises (``Exercise.kind == "open"``) have no single answer: the student designs something
(a g-factor map, an α chosen under a budget, a sampling mask). Their check first rejects what breaks the
rules, with the reason (a mask over the column budget, an α over the PSNR budget on the validation
split, a g-factor off by the √R of the scan time), then *measures* the artefact and prints the outcome
(the noise amplification found, the α's cost on the test split, the mask's error against a random one);
:func:`check` passes the notebook's data to it as keyword arguments.

**Predictions** are asked before their answer is computed: the student writes a guess into a variable,
and a later cell, after the answer is on the page, calls :func:`reveal` to compare.
CI runs the notebooks with ``RECON_SOLUTIONS=1``: :func:`check` then checks the *solution* in
place of an unfinished answer, so every check is proven to accept it; ``tests/test_exercises.py``
feeds every check a known-wrong answer and proves it is caught.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from recon_lib.core.checks import adjointness_error
from recon_lib.physics.coils import sens_expand, sens_reduce
from recon_lib.physics.fft import fft2c, ifft2c

__all__ = ["ExerciseError", "EXERCISES", "check", "reveal", "solution", "solutions_enabled"]

#: environment variable that puts the solutions in place of unfinished answers (CI)
SOLUTIONS_ENV = "RECON_SOLUTIONS"


class ExerciseError(AssertionError):
    """A student's answer is wrong; the message says how."""


def solutions_enabled() -> bool:
    """True when ``RECON_SOLUTIONS=1`` (CI): unfinished answers are replaced by the solutions."""
    return os.environ.get(SOLUTIONS_ENV, "") == "1"


# ---- test inputs (small, seeded, complex where MRI data is) -------------------------------------
def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _complex(*shape: int, seed: int) -> torch.Tensor:
    g = _rng(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g))


def _problem(seed: int = 0, b: int = 1, c: int = 4, h: int = 12, w: int = 10) -> dict[str, torch.Tensor]:
    """Image, maps (normalised), a column mask and measured k-space of a random SENSE problem."""
    maps = _complex(b, c, h, w, seed=seed)
    maps = maps / (maps.abs() ** 2).sum(dim=1, keepdim=True).sqrt()
    mask = torch.zeros(1, 1, 1, w)
    mask[..., ::3] = 1.0
    mask[..., w // 2 - 1 : w // 2 + 1] = 1.0
    x = _complex(b, h, w, seed=seed + 1)
    k0 = sens_expand(_complex(b, h, w, seed=seed + 2), maps, mask)
    return {"x": x, "maps": maps, "mask": mask, "k0": k0}


def _compare(name: str, got: Any, expected: torch.Tensor | np.ndarray | float, atol: float = 1e-5) -> None:
    """Raise :class:`ExerciseError` naming how ``got`` differs from ``expected``."""
    if isinstance(expected, float):
        if not isinstance(got, (int, float, np.floating, np.integer)) and not (
            isinstance(got, torch.Tensor) and got.numel() == 1
        ):
            raise ExerciseError(f"{name}: expected a number, got {type(got).__name__}")
        value = float(got)
        if not np.isclose(value, expected, rtol=1e-4, atol=atol):
            raise ExerciseError(f"{name}: expected {expected:.6g}, got {value:.6g}")
        return
    exp = torch.as_tensor(expected)
    if not isinstance(got, (torch.Tensor, np.ndarray)):
        raise ExerciseError(f"{name}: expected a tensor of shape {tuple(exp.shape)}, got {type(got).__name__}")
    g = torch.as_tensor(got)
    if tuple(g.shape) != tuple(exp.shape):
        raise ExerciseError(f"{name}: expected shape {tuple(exp.shape)}, got {tuple(g.shape)}")
    if exp.is_complex() and not g.is_complex():
        raise ExerciseError(f"{name}: expected a complex result (k-space and images are complex), got {g.dtype}")
    err = (g.to(exp.dtype) - exp).abs()
    scale = float(exp.abs().max()) or 1.0
    if float(err.max()) > atol * max(scale, 1.0):
        i = np.unravel_index(int(err.argmax()), tuple(err.shape))
        raise ExerciseError(
            f"{name}: wrong values, e.g. at index {tuple(int(v) for v in i)}: expected {complex(exp[i]):.4g}, "
            f"got {complex(g.to(exp.dtype)[i]):.4g} (largest error {float(err.max()):.3g})"
        )


# ---- the exercises --------------------------------------------------------------------------------
def _sol_nmse(gt: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sum((gt - pred) ** 2) / np.sum(gt**2))


def _chk_nmse(fn: Callable, **_: Any) -> None:
    rng = np.random.default_rng(0)
    gt = rng.random((2, 8, 8))
    pred = gt + 0.1 * rng.standard_normal((2, 8, 8))
    _compare("nmse(gt, pred)", fn(gt, pred), _sol_nmse(gt, pred))
    _compare("nmse(gt, gt)", fn(gt, gt), 0.0)
    if not np.isclose(float(fn(gt, 2 * gt)), 1.0):
        raise ExerciseError("nmse(gt, 2 * gt) must be 1: the error energy divided by the energy of gt")


def _sol_psf(mask: np.ndarray) -> np.ndarray:
    psf = np.abs(np.fft.fftshift(np.fft.ifft(np.fft.ifftshift(mask.astype(np.float64)))))
    return psf / psf.max()


def _chk_psf(fn: Callable, **_: Any) -> None:
    mask = np.zeros(32, dtype=bool)
    mask[::4] = True
    mask[14:18] = True
    got = np.asarray(fn(mask), dtype=np.float64)
    _compare("psf(mask)", torch.from_numpy(got), torch.from_numpy(_sol_psf(mask)), atol=1e-6)


def _sol_forward(x: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return fft2c(maps * x.unsqueeze(1)) * mask


def _sol_adjoint(k: torch.Tensor, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (maps.conj() * ifft2c(k * mask)).sum(dim=1)


def _chk_forward(fn: Callable, **_: Any) -> None:
    p = _problem(3)
    _compare("E(x, maps, mask)", fn(p["x"], p["maps"], p["mask"]), sens_expand(p["x"], p["maps"], p["mask"]))


def _chk_adjoint(fn: Callable, **_: Any) -> None:
    p = _problem(4)
    k = _complex(*p["maps"].shape, seed=9)
    _compare("EH(k, maps, mask)", fn(k, p["maps"], p["mask"]), sens_reduce(k, p["maps"], p["mask"]))
    y = _complex(*p["maps"].shape, seed=10)  # a second k-space: <E x, y> = <x, E^H y> must hold for any y
    err = adjointness_error(
        lambda x: sens_expand(x, p["maps"], p["mask"]), lambda y: fn(y, p["maps"], p["mask"]), p["x"], y
    )
    if err > 1e-4:
        raise ExerciseError(f"EH is not the adjoint of E: <Ex, y> and <x, EH y> differ by {err:.2g} (relative)")


def _sol_hard_dc(k_pred: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (1 - mask) * k_pred + mask * k_measured


def _chk_hard_dc(fn: Callable, **_: Any) -> None:
    p = _problem(5)
    k_pred = sens_expand(p["x"], p["maps"])
    got = fn(k_pred, p["k0"], p["mask"])
    _compare("hard_dc(k_pred, k_measured, mask)", got, _sol_hard_dc(k_pred, p["k0"], p["mask"]))


def _sol_soft_dc(k_pred: torch.Tensor, k_measured: torch.Tensor, mask: torch.Tensor, a: float) -> torch.Tensor:
    return (1 - mask) * k_pred + mask * (a * k_pred + (1 - a) * k_measured)


def _chk_soft_dc(fn: Callable, **_: Any) -> None:
    p = _problem(6)
    k_pred = sens_expand(p["x"], p["maps"])
    for a in (0.0, 0.3, 1.0):
        expected = _sol_soft_dc(k_pred, p["k0"], p["mask"], a)
        _compare(f"soft_dc(..., a={a:g})", fn(k_pred, p["k0"], p["mask"], a), expected)


def _sol_lsgan_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (((d_real - 1) ** 2).mean() + (d_fake**2).mean())


def _chk_lsgan_d(fn: Callable, **_: Any) -> None:
    g = _rng(7)
    d_real, d_fake = torch.rand(2, 1, 6, 6, generator=g), torch.rand(2, 1, 6, 6, generator=g)
    _compare("lsgan_d(d_real, d_fake)", fn(d_real, d_fake), float(_sol_lsgan_d(d_real, d_fake)))
    perfect = float(fn(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2)))
    if abs(perfect) > 1e-6:
        raise ExerciseError(f"a perfect discriminator (D(real) = 1, D(fake) = 0) must have loss 0, got {perfect:.3g}")


def _sol_interpolate(sd_a: Mapping[str, torch.Tensor], sd_b: Mapping[str, torch.Tensor], alpha: float) -> dict:
    return {key: (1 - alpha) * sd_a[key] + alpha * sd_b[key] for key in sd_a}


def _chk_interpolate(fn: Callable, **_: Any) -> None:
    g = _rng(8)
    sd_a = {"conv.weight": torch.randn(3, 2, generator=g), "conv.bias": torch.randn(3, generator=g)}
    sd_b = {k: torch.randn(v.shape, generator=g) for k, v in sd_a.items()}
    for alpha in (0.0, 0.25, 1.0):
        got = fn(sd_a, sd_b, alpha)
        if not isinstance(got, Mapping) or set(got) != set(sd_a):
            raise ExerciseError(
                f"interpolate must return a dict with the keys {sorted(sd_a)}, got {type(got).__name__}"
            )
        for key, value in _sol_interpolate(sd_a, sd_b, alpha).items():
            _compare(f"interpolate(..., alpha={alpha:g})[{key!r}]", got[key], value)


def _sol_paired_mean(scores_a: Sequence[float], scores_b: Sequence[float]) -> float:
    return float(np.mean(np.asarray(scores_a) - np.asarray(scores_b)))


def _chk_paired_mean(fn: Callable, **_: Any) -> None:
    a, b = [30.1, 25.4, 28.0, 22.7], [29.0, 25.9, 26.5, 21.9]
    _compare("paired_mean(a, b)", fn(a, b), _sol_paired_mean(a, b))
    _compare("paired_mean(b, a)", fn(b, a), _sol_paired_mean(b, a))


# ---- open exercises ------------------------------------------------------------------------------------
def _small_sense(seed: int = 0, coils: int = 6, h: int = 6, w: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth complex maps ``(C, H, W)`` normalised to sum_c |S_c|^2 = 1, and a mask (every 3rd column + centre)."""
    g = _rng(seed)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    maps = []
    for _ in range(coils):
        a, b, c, d = torch.randn(4, generator=g, dtype=torch.float64)
        maps.append(torch.exp(-((xx - 0.8 * a) ** 2 + (yy - 0.8 * b) ** 2)) * torch.exp(1j * (c * xx + d * yy)))
    s = torch.stack(maps)
    mask = torch.zeros(w, dtype=torch.float64)
    mask[::3] = 1
    mask[w // 2 - 2 : w // 2 + 2] = 1
    return s / s.abs().pow(2).sum(0).sqrt(), mask


def _sol_gfactor(maps: torch.Tensor, mask: torch.Tensor, replicas: int = 200) -> np.ndarray:
    from recon_lib.physics.gfactor import pseudo_replica_gfactor

    return pseudo_replica_gfactor(maps, mask, replicas=replicas, seed=0)


def _chk_gfactor(fn: Callable, **_: Any) -> None:
    from recon_lib.physics.gfactor import gfactor_map

    maps, mask = _small_sense(11)
    got = np.asarray(fn(maps, mask, 200), dtype=np.float64)
    expected = gfactor_map(maps, mask)
    if got.shape != expected.shape:
        raise ExerciseError(
            f"my_gfactor(maps, mask, replicas): expected a map of shape {expected.shape}, got {got.shape}"
        )
    ratio = float(np.nanmedian(got / expected))
    r = mask.numel() / float(mask.sum())
    if abs(ratio - np.sqrt(r)) < 0.1 * np.sqrt(r):
        raise ExerciseError(
            f"your map is about sqrt(R) = {np.sqrt(r):.2f} times the g-factor: the noise-std ratio of the accelerated "
            "and the fully sampled reconstruction holds the scan-time loss sqrt(R) too; g = ratio / sqrt(R)"
        )
    if abs(ratio - r) < 0.1 * r or abs(ratio - np.sqrt(r) ** 0.5) < 0.05:
        raise ExerciseError(
            f"your map is {ratio:.2f} times the g-factor: compare noise standard deviations, not variances"
        )
    if not 0.9 < ratio < 1.1 or np.nanmin(got) < 0.8:
        raise ExerciseError(f"your map is {ratio:.2f} times the analytic g-factor (median): expected 1 (within 10 %)")
    print(f"your g-factor map agrees with the analytic one to {abs(ratio - 1):.1%} (median) on a 6-coil test problem")


def _sol_choose_alpha(records: Sequence[Mapping[str, Any]], acceleration: int, budget_db: float) -> float:
    rows = [r for r in records if r["mode"] == "network" and r["acceleration"] == acceleration]
    sn = next(r["psnr"] for r in rows if r["alpha"] == 0)
    allowed = [r for r in rows if sn - r["psnr"] <= budget_db]
    return max(allowed, key=lambda r: r["hf_energy_ratio"])["alpha"]


def _sweep_rows(records: Sequence[Mapping[str, Any]], acceleration: int) -> dict[float, Mapping[str, Any]]:
    return {float(r["alpha"]): r for r in records if r["mode"] == "network" and r["acceleration"] == acceleration}


def _chk_choose_alpha(fn: Callable, **context: Any) -> None:
    import json

    from recon_lib.teaching import suite

    validation = json.loads((suite.results_dir("alpha_validation") / "alpha_validation.json").read_text())["records"]
    test = json.loads((suite.results_dir("evaluate") / "alpha_sweep.json").read_text())
    for af in (4, 8):
        budget = float(context.get("budget_db", 0.3))
        alpha = fn(validation, af, budget)
        rows = _sweep_rows(validation, af)
        if not isinstance(alpha, (int, float, np.floating)) or float(alpha) not in rows:
            raise ExerciseError(f"AF {af}: choose one of the swept αs {sorted(rows)}, got {alpha!r}")
        cost = rows[0.0]["psnr"] - rows[float(alpha)]["psnr"]
        if cost > budget + 1e-9:
            raise ExerciseError(
                f"AF {af}: α = {float(alpha):g} costs {cost:.2f} dB on the validation split, "
                f"over the {budget:g} dB budget"
            )
        on_test = _sweep_rows(test, af)
        if float(alpha) in on_test:
            t0, ta = on_test[0.0], on_test[float(alpha)]
            within = "within" if t0["psnr"] - ta["psnr"] <= budget else "OVER"
            print(
                f"AF {af}: α = {float(alpha):g} costs {cost:.2f} dB on validation; on the test split "
                f"{ta['psnr'] - t0['psnr']:+.2f} dB ({within} the budget), "
                f"HF-energy ratio {t0['hf_energy_ratio']:.3f} -> {ta['hf_energy_ratio']:.3f}"
            )


def _teaching_fraction(acceleration: int, width: int) -> float:
    """The centre fraction the rule gives at ``acceleration`` for ``width`` columns of the teaching
    geometry's column width (:func:`~recon_lib.physics.masks.fastmri_center_fraction`)."""
    from recon_lib.data.phantom.simulate import GEOMETRIES
    from recon_lib.physics.masks import fastmri_center_fraction

    return fastmri_center_fraction(acceleration, width, width * GEOMETRIES["teaching"].pixel_mm)


def _sol_mask(width: int, acceleration: int, seed: int) -> np.ndarray:
    from recon_lib.physics.masks import sample_mask

    fraction = _teaching_fraction(acceleration, width)
    return sample_mask(width, center_fraction=fraction, acceleration=acceleration, kind="equispaced", seed=seed)


def _chk_mask(fn: Callable, **context: Any) -> None:
    """Reject a mask over the column budget; with a slice in ``context`` (``kspace`` fully sampled
    ``(1, C, H, W)``, ``maps``, ``target`` ``(rh, rw)``, ``foreground``), score it with CG-SENSE against
    the random mask."""
    from recon_lib.core.tensors import center_crop
    from recon_lib.metrics.quality import nmse
    from recon_lib.physics.classical import cg_sense
    from recon_lib.physics.masks import mask_to_tensor, sample_mask

    kspace = context.get("kspace")
    width = int(kspace.shape[-1]) if kspace is not None else 184
    mask = np.asarray(fn(width, 8, 0))
    if mask.shape != (width,) or not np.isin(mask, (0, 1)).all():
        raise ExerciseError(f"my_mask(width, 8, seed) must return {width} zeros and ones, got shape {mask.shape}")
    # the random mask of the same acquisition: the centre the maps were calibrated on
    random = sample_mask(width, center_fraction=_teaching_fraction(8, width), acceleration=8, seed=0)
    if int(mask.sum()) > int(random.sum()):
        raise ExerciseError(
            f"your mask samples {int(mask.sum())} columns; AF 8 allows {int(random.sum())} "
            "(what the random mask takes): a faster scan may not measure more"
        )
    if kspace is None:
        return
    errors = {}
    for name, m in (("yours", mask), ("random", random)):
        tensor = mask_to_tensor(m.astype(bool))
        image = cg_sense(kspace * tensor, context["maps"], tensor, num_iters=int(context.get("iterations", 15)))
        shown = center_crop(image, tuple(context["target"].shape))[0].abs()
        errors[name] = nmse(context["target"][None], shown[None], mask=context["foreground"][None])
    verdict = "beats" if errors["yours"] < errors["random"] else "does not beat"
    print(
        f"{int(mask.sum())} columns: CG-SENSE NMSE {errors['yours']:.4f} with your mask, {errors['random']:.4f} "
        f"with the random one ({int(random.sum())} columns): yours {verdict} it on this slice"
    )


#: the SN-GAN settings a plan may set, besides ``steps``
_PLAN_SETTINGS = ("gamma", "d_lr")


def _sol_longer_gan(budget: int) -> dict[str, Any]:
    return {"steps": budget, "gamma": 0.1, "d_lr": 1e-4}


def _check_plan(plan: Any, budget: int) -> None:
    """A plan's rules: a dict with ``steps`` (1 .. budget) and known SN-GAN settings, gamma > 0."""
    if not isinstance(plan, Mapping) or "steps" not in plan:
        raise ExerciseError(
            f"my_plan(budget) must return a dict with 'steps' (and any of {_PLAN_SETTINGS}), got {plan!r}"
        )
    unknown = sorted(set(plan) - {"steps", *_PLAN_SETTINGS})
    if unknown:
        raise ExerciseError(f"unknown settings {unknown}: a plan may set 'steps' and {', '.join(_PLAN_SETTINGS)}")
    steps = plan["steps"]
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= int(steps) <= budget:
        raise ExerciseError(f"steps must be a whole number from 1 to the budget of {budget} steps, got {steps!r}")
    if float(plan.get("gamma", 0.1)) <= 0:
        raise ExerciseError(
            "gamma = 0 drops γ·L_SN from the generator's loss: nothing then ties the SN-GAN to the measured "
            "anatomy, any texture the discriminator likes is rewarded (hallucination by design). The trade-off "
            "is between the two terms: keep gamma > 0 (the paper: 0.1) and change the length or d_lr"
        )
    if not float(plan.get("d_lr", 1e-5)) > 0:
        raise ExerciseError(f"d_lr must be positive, got {plan.get('d_lr')!r}")


def _chk_longer_gan(fn: Callable, **context: Any) -> None:
    """Reject a plan that breaks the rules; with ``slices`` in ``context`` run it and report the outcome."""
    budget = int(context.get("budget", 400))
    plan = fn(budget)
    _check_plan(plan, budget)
    if "slices" not in context:
        return
    from recon_lib.teaching.notebook import gan_outcome

    out = gan_outcome(dict(plan), slices=int(context["slices"]))
    before, after = out["psnr_gan"] - out["psnr_sn"], out["psnr_longer"] - out["psnr_sn"]
    # the detail's distance from the truth's (HF ratio 1), before and after the extra steps
    further = abs(out["hf_longer"] - 1) - abs(out["hf_gan"] - 1)
    if after < before:
        verdict = (
            "broken: PSNR lost and the detail further from the truth's"
            if further > 0
            else ("holding: PSNR paid for detail closer to the truth's")
        )
    else:
        verdict = "not reached: PSNR gained" + (
            ", detail further from the truth's" if further > 0 else " and detail closer"
        )
    steps = int(plan["steps"])
    print(
        f"{steps} more step{'s' if steps != 1 else ''} ({out['seconds']:.0f} s); validation slices at AF 4:\n"
        f"  SN-GAN − SN PSNR {before:+.2f} dB (shipped) -> {after:+.2f} dB (longer)\n"
        f"  HF-energy ratio against the truth: SN {out['hf_sn']:.3f}, SN-GAN {out['hf_gan']:.3f} (shipped) -> "
        f"{out['hf_longer']:.3f} (longer)\n  the trade-off is {verdict}"
    )


@dataclass(frozen=True)
class Exercise:
    """One exercise: where it is, what it asks, its check and its solution (``kind``: closed or open)."""

    notebook: str
    task: str
    check: Callable[..., None]
    solution: Callable
    kind: str = "closed"


#: every exercise of the notebooks, by name
EXERCISES: dict[str, Exercise] = {
    "nmse": Exercise("02", "NMSE of a volume: ||gt - pred||^2 / ||gt||^2", _chk_nmse, _sol_nmse),
    "psf": Exercise("02", "point-spread function of a 1-D column mask (normalised to peak 1)", _chk_psf, _sol_psf),
    "forward": Exercise("03", "the SENSE forward operator E x = M F (S x)", _chk_forward, _sol_forward),
    "adjoint": Exercise("03", "its adjoint E^H k = sum_c conj(S_c) F^-1 (M k_c)", _chk_adjoint, _sol_adjoint),
    "hard_dc": Exercise("04", "hard data consistency in k-space", _chk_hard_dc, _sol_hard_dc),
    "soft_dc": Exercise("04", "soft data consistency with weight a", _chk_soft_dc, _sol_soft_dc),
    "lsgan_d": Exercise("05", "the LSGAN discriminator loss", _chk_lsgan_d, _sol_lsgan_d),
    "interpolate": Exercise("06", "network interpolation of two state dicts", _chk_interpolate, _sol_interpolate),
    "paired_mean": Exercise(
        "07", "the mean paired difference of two methods' scores", _chk_paired_mean, _sol_paired_mean
    ),
    "gfactor": Exercise("03", "a g-factor map by pseudo-replicas", _chk_gfactor, _sol_gfactor, "open"),
    "mask_design": Exercise("03", "a sampling mask that beats the random one at AF 8", _chk_mask, _sol_mask, "open"),
    "longer_gan": Exercise(
        "05",
        "fine-tune the SN-GAN longer and find where the trade-off breaks",
        _chk_longer_gan,
        _sol_longer_gan,
        "open",
    ),
    "choose_alpha": Exercise(
        "07",
        "choose α under a PSNR budget on validation, defend it on test",
        _chk_choose_alpha,
        _sol_choose_alpha,
        "open",
    ),
}


def _exercise(name: str) -> Exercise:
    if name not in EXERCISES:
        raise KeyError(f"no exercise {name!r} (exercises: {', '.join(EXERCISES)})")
    return EXERCISES[name]


def check(name: str, answer: Callable, **context: Any) -> Callable:
    """Check a student's ``answer`` to exercise ``name``; return the function the notebook goes on with.

    Returns:
        ``answer`` when it passes; the solution when ``answer`` still raises ``NotImplementedError``
        (with a "not done yet" message, or silently checked in its place under ``RECON_SOLUTIONS=1``).

    Raises:
        ExerciseError: the answer is wrong; the message says how.
    """
    ex = _exercise(name)
    try:
        ex.check(answer, **context)
    except NotImplementedError:
        if solutions_enabled():
            ex.check(ex.solution, **context)  # CI: the solution must pass its own check
            print(f"exercise {name!r}: solution in place ({SOLUTIONS_ENV}=1) -- it passes the check")
        else:
            print(
                f"exercise {name!r} not done yet: {ex.task}. The notebook goes on with the library's answer; "
                f"reveal the solution with exercises.solution({name!r})."
            )
        return ex.solution
    print(f"exercise {name!r}: correct -- well done.")
    return answer


def reveal(name: str, guess: float | None, actual: float, tolerance: float) -> bool:
    """Compare a prediction made before the answer was computed with the answer; True when within ``tolerance``.

    ``guess=None`` (the notebooks' default, left when the student did not predict) says so: "you made no
    prediction", and returns False."""
    if guess is None:
        print(f"prediction {name!r}: you made no prediction -- the answer is {actual:g}. Next time, guess first.")
        return False
    close = abs(float(guess) - actual) <= tolerance
    verdict = "right" if close else f"off by {float(guess) - actual:+g}"
    print(f"prediction {name!r}: you said {float(guess):g}, the answer is {actual:g} -- {verdict}")
    return close


def solution(name: str) -> str:
    """Print (and return) the source of exercise ``name``'s solution."""
    source = inspect.getsource(_exercise(name).solution)
    print(source)
    return source
