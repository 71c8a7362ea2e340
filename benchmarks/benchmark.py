"""Speed and memory benchmarks: prints a Markdown table (nothing here is a timed test).

    python benchmarks/benchmark.py [--checkpoints checkpoints] [--threads 2] [--repeats 5]

Measured at the teaching geometry (15 coils, 160 x 184 k-space grid after readout-oversampling
removal, 160 x 160 reference):

* weight interpolation alone (``interpolate_alpha`` and the in-place ``ModelInterpolator``),
* the alpha-slider round trip with its widgets (interpolate weights, forward, metrics, PNGs),
* inference time per slice and training throughput (slices/s) per model,
* metric throughput: recon_lib's NMSE/PSNR/SSIM vs the skimage reference on the same volume
  (float32 and float64 volumes; both compute SSIM in the inputs' precision),
* the convolution floor and the two ratios of the CPU-speed targets, measured in one run: the SN
  training step against 3x the forward's floor, the slider's new alpha against the forward's
  floor. The floor is fixed by definition: the SN forward's counted FLOPs (convolutions; FFTs not
  counted) at the best float32 3x3-convolution throughput this run measures, whatever precision
  the models then use (:class:`recon_lib.core.compute.Compute`),
* a row per lever: precision and layout (speed-up and the PSNR change of a real slice), and the
  rewritings that need no setting (data consistency in the hybrid space, the PReLU backward),
  with what they replaced timed beside them; data loading against the step,
* peak RSS of a training run and of a slider session (each in a fresh subprocess).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
C, H, W, RH, RW = 15, 160, 184, 160, 160


def timeit(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def synthetic_batch(batch: int = 1, seed: int = 0) -> dict[str, Any]:
    from recon_lib.physics.coils import normalize_maps, sens_expand
    from recon_lib.physics.masks import mask_to_tensor, sample_mask

    g = torch.Generator().manual_seed(seed)
    maps = normalize_maps(torch.randn(batch, C, H, W, dtype=torch.complex64, generator=g))
    x = torch.randn(batch, H, W, dtype=torch.complex64, generator=g)
    mask = mask_to_tensor(sample_mask(W, 0.04, ACCELERATION, seed=seed, padding=(4, 180)))
    mask = mask.expand(batch, 1, 1, W).contiguous()
    target = x.abs()[:, (H - RH) // 2 : (H - RH) // 2 + RH, (W - RW) // 2 : (W - RW) // 2 + RW].contiguous()
    return {
        "kspace": sens_expand(x, maps, mask),
        "maps": maps,
        "mask": mask,
        "target": target,
        "foreground": torch.ones_like(target, dtype=torch.bool),
        "max": target.amax(dim=(1, 2)),
    }


#: the acceleration of the benchmark's slices (the synthetic batch's mask, the real slice)
ACCELERATION = 8


def load_pair(checkpoints: Path, acceleration: int | None = None):
    """``(SN, SN-GAN, where they came from)``: the shipped pair, the SN-GAN the one serving
    ``acceleration`` (``sn_gan_af<AF>.pt`` where shipped, else ``sn_gan.pt``; None: ``sn_gan.pt``),
    or the teaching architecture with random weights when the checkpoints do not load."""
    from recon_lib.models.checkpoint import load_model
    from recon_lib.models.sensitivity_network import SensitivityNetwork
    from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN

    try:
        sn, _ = load_model(FINETUNE_SN.checkpoint_path(checkpoints))
        gan_path = FINETUNE_GAN.checkpoint_for(checkpoints, acceleration)
        gan, _ = load_model(gan_path)
        return sn, gan, f"shipped checkpoints, SN-GAN {gan_path.name}"
    except Exception:  # noqa: BLE001 - fall back to the teaching architecture, random weights
        torch.manual_seed(0)
        sn, gan = SensitivityNetwork(num_cascades=5, features=16), SensitivityNetwork(num_cascades=5, features=16)
        return sn.eval(), gan.eval(), "teaching architecture, random weights"


def bench_interpolation(sn, gan, repeats: int) -> list[tuple[str, float, str]]:
    from recon_lib.models.interpolation import ModelInterpolator, interpolate_alpha

    sd_a, sd_b = sn.state_dict(), gan.state_dict()
    live = type(sn)(**sn.config).eval()
    interp = ModelInterpolator(live, [sd_a, sd_b])
    alphas = iter(np.linspace(0.01, 0.99, 10_000))
    rows = [
        (
            "interpolate_alpha (new state dict)",
            timeit(lambda: interpolate_alpha(sd_a, sd_b, 0.37), repeats * 4),
            "≤ 5 ms",
        ),
        (
            "interpolate_alpha + load_state_dict",
            timeit(lambda: live.load_state_dict(interpolate_alpha(sd_a, sd_b, 0.37)), repeats * 4),
            "≤ 5 ms",
        ),
        (
            "ModelInterpolator.set_alpha (in place)",
            timeit(lambda: interp.set_alpha(float(next(alphas))), repeats * 4),
            "≤ 5 ms",
        ),
    ]
    return rows


def bench_models(repeats: int) -> list[tuple[str, float, float, int]]:
    """(name, inference s/slice, training slices/s, parameters), in the default compute settings."""
    from recon_lib.core.compute import Compute
    from recon_lib.models.checkpoint import build_model
    from recon_lib.models.inference import reconstruct
    from recon_lib.training.config import load_config
    from recon_lib.training.steps import Learner, training_step

    cfg = load_config(ROOT / "configs" / "teaching.yaml")
    compute = Compute()
    batch = synthetic_batch()
    out = []
    for name, cls, conf in [
        ("SN (teaching)", "SensitivityNetwork", cfg.sn),
        ("U-Net (teaching)", "UNetReconstructor", cfg.unet),
        ("SN (paper: 10 cascades, F=64)", "SensitivityNetwork", {"num_cascades": 10, "features": 64}),
    ]:
        torch.manual_seed(0)
        model = compute.prepare(build_model(cls, dict(conf)))
        params = sum(p.numel() for p in model.parameters())
        model.eval()

        def infer(model: torch.nn.Module = model) -> None:  # bind this iteration's model
            with torch.inference_mode(), compute.autocast("cpu"):
                reconstruct(model, batch)

        t_inf = timeit(infer, max(2, repeats // 2) if "paper" in name else repeats)
        model.train()
        learner = Learner(model, torch.optim.RMSprop(model.parameters(), lr=1e-4, foreach=True), compute=compute)
        t_step = timeit(lambda learner=learner: training_step(learner, batch), 2 if "paper" in name else repeats)
        out.append((name, t_inf, 1.0 / t_step, params))
        if name == "SN (teaching)":
            disc = compute.prepare(build_model("PatchDiscriminator", dict(cfg.discriminator)))
            st = cfg.stages["finetune_gan"]
            gan = Learner(  # the trainer's SN-GAN step: one D step, then gamma L_SN + LSGAN for the SN
                model,
                torch.optim.RMSprop(model.parameters(), lr=st.lr, foreach=True),
                disc=disc,
                d_optimiser=torch.optim.Adam(disc.parameters(), lr=st.d_lr, betas=(0.5, 0.999), foreach=True),
                gamma=st.gamma,
                compute=compute,
            )

            def gan_step(gan: Learner = gan) -> None:
                training_step(gan, batch)

            out.append(("SN-GAN step (teaching, incl. D)", float("nan"), 1.0 / timeit(gan_step, repeats), params))
    return out


#: the precision and layout levers: name -> Compute (the last one is the library's default)
LEVERS = {
    "fp32": ("fp32", False),
    "channels_last": ("fp32", True),
    "bf16": ("bf16", False),
    "bf16 + channels_last (default)": ("bf16", True),
}


def real_slice(data_root: Path) -> dict[str, Any] | None:
    """The middle slice of the first validation volume at AF 8 (the explorer's batch form), or None
    without a prepared dataset."""
    try:
        from recon_lib.teaching.explorer.slices import SliceSource, as_batch

        return as_batch(SliceSource(data_root, "val", (ACCELERATION,)).item(ACCELERATION, 0))
    except (FileNotFoundError, OSError, ValueError, KeyError) as err:
        print(f"(no prepared slice at {data_root}: {err}; the PSNR column uses the synthetic batch)", file=sys.stderr)
        return None


def lever_psnr(model: torch.nn.Module, batch: dict[str, Any], compute: Any) -> float:
    """PSNR of the forward pass's magnitude under ``compute`` against the batch's target
    (foreground and volume maximum when the batch has them)."""
    import copy

    from recon_lib.metrics.quality import volume_metrics
    from recon_lib.models.inference import reconstruct

    prepared = compute.prepare(copy.deepcopy(model).eval())
    with torch.inference_mode(), compute.autocast("cpu"):
        out = reconstruct(prepared, batch)[0].abs().float().numpy().astype(np.float64)
    target = np.asarray(batch.get("reference", batch["target"][0].numpy()), dtype=np.float64)
    fg = batch.get("foreground")
    if isinstance(fg, torch.Tensor):
        fg = fg[0].numpy()
    data_range = batch["max"]
    data_range = float(data_range.reshape(-1)[0]) if isinstance(data_range, torch.Tensor) else float(data_range)
    return float(volume_metrics(target, out, mask=fg, data_range=data_range)["psnr"])


def bench_levers(
    sn: torch.nn.Module, repeats: int, slice_batch: dict[str, Any] | None, rounds: int = 3
) -> dict[str, float]:
    """SN forward and training step (L1 + SSIM, batch 1) under each lever, timed in interleaved
    rounds (median of the rounds' medians, so a machine warming up or throttling favours none), and
    each lever's PSNR change on a real slice against float32."""
    import copy

    from recon_lib.core.compute import Compute
    from recon_lib.models.inference import reconstruct
    from recon_lib.training.steps import Learner, training_step

    batch = synthetic_batch()
    runs: dict[str, Callable[[], Any]] = {}
    for name, (precision, channels_last) in LEVERS.items():
        compute = Compute(precision, channels_last)
        model = compute.prepare(copy.deepcopy(sn).eval())

        def forward(model: torch.nn.Module = model, compute: Compute = compute) -> torch.Tensor:
            with torch.inference_mode(), compute.autocast("cpu"):
                return reconstruct(model, batch)

        trained = compute.prepare(copy.deepcopy(sn).train())
        learner = Learner(trained, torch.optim.RMSprop(trained.parameters(), lr=1e-4, foreach=True), compute=compute)
        runs[f"forward {name}"] = forward
        runs[f"step {name}"] = lambda learner=learner: training_step(learner, batch)
    pair = synthetic_batch(
        batch=2
    )  # batching slices: not in the recipe (its validation result would need re-measuring)
    runs["step batch 2, default"] = lambda learner=learner: training_step(learner, pair)
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, fn in runs.items():
            times[key].append(timeit(fn, repeats))
    out = {f"{key}_s": statistics.median(values) for key, values in times.items()}
    scored = slice_batch if slice_batch is not None else batch
    base = lever_psnr(sn, scored, Compute.fp32())
    for name, (precision, channels_last) in LEVERS.items():
        out[f"psnr change {name}_db"] = lever_psnr(sn, scored, Compute(precision, channels_last)) - base
    return out


def bench_rewrites(repeats: int) -> dict[str, float]:
    """The rewritings that need no setting, each beside what it replaced (fp32, one cascade's worth):
    data consistency by its k-space definition vs :class:`PreparedSense` (prepared once per forward),
    and torch's PReLU vs the Down-Up block's (forward + backward at full resolution, F = 16)."""
    from recon_lib.models.down_up import DownUpBlock
    from recon_lib.physics.coils import sens_expand, sens_reduce
    from recon_lib.physics.data_consistency import PreparedSense

    batch = synthetic_batch()
    k0, maps, mask = batch["kspace"], batch["maps"], batch["mask"]
    x = torch.randn(1, H, W, dtype=torch.complex64, generator=torch.Generator().manual_seed(1))
    system = PreparedSense(k0, maps, mask)

    def definition() -> torch.Tensor:
        k = sens_expand(x, maps)
        return sens_reduce((1 - mask) * k + mask * k0, maps)

    act = torch.randn(1, 16, H, W, requires_grad=True)
    grad = torch.randn(1, 16, H, W)
    ours = DownUpBlock(16).head[1]  # the block's PReLU
    theirs = torch.nn.PReLU()

    def prelu(module: torch.nn.Module) -> Callable[[], None]:
        return lambda: module(act).backward(grad)

    with torch.inference_mode():
        dc = {
            "dc definition (k-space)_s": timeit(definition, repeats * 4),
            "dc prepared (hybrid)_s": timeit(lambda: system.consistent(x), repeats * 4),
        }
    return dc | {
        "prelu torch_s": timeit(prelu(theirs), repeats * 4),
        "prelu fused backward_s": timeit(prelu(ours), repeats * 4),
    }


def bench_loading(data_root: Path, repeats: int) -> float | None:
    """Seconds to load one training sample (read, mask, batch) of the prepared dataset, or None."""
    try:
        from recon_lib.data.dataset import KneeDataset
        from recon_lib.physics.masks import MaskFunc

        ds = KneeDataset(data_root / "train", MaskFunc([4, 8], kind="random"), train=True, seed=0)
    except (FileNotFoundError, OSError, ValueError) as err:
        print(f"(no prepared training split at {data_root}: {err})", file=sys.stderr)
        return None
    order = iter(np.random.default_rng(0).integers(0, len(ds), 10_000))
    return timeit(lambda: ds[int(next(order))], repeats * 4)


def forward_flops(model: torch.nn.Module, batch: dict[str, Any]) -> int:
    """FLOPs of one forward pass counted by ``torch.utils.flop_counter`` (convolutions, matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    from recon_lib.models.inference import reconstruct

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        reconstruct(model, batch)
    return int(counter.get_total_flops())


#: the convolutions timed: (name, batch, channels, channels_last, bf16); the floor is the best float32 one
CONVOLUTIONS = (
    ("3x3 conv, 64 -> 64 channels, batch 4", 4, 64, False, False),
    ("3x3 conv, 64 -> 64 channels, batch 4, channels_last", 4, 64, True, False),
    ("3x3 conv, 16 -> 16 channels, batch 1", 1, 16, False, False),
    ("3x3 conv, 16 -> 16 channels, batch 1, channels_last, bf16", 1, 16, True, True),
)


def bench_conv_throughput(repeats: int, rounds: int = 3) -> dict[str, float]:
    """GFLOP/s of single 3x3 convolutions at the teaching grid, in inference mode: wide (near this
    CPU's peak) and at the teaching SN's width, in float32 in both layouts (the floor's candidates)
    and, for comparison, as the default settings run the SN's width. The best of ``rounds``
    interleaved rounds: a floor that errs, errs low (the ratios against it high)."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, gflops in _conv_round(repeats).items():
            best[name] = max(best.get(name, 0.0), gflops)
    return best


def _conv_round(repeats: int) -> dict[str, float]:
    out = {}
    for name, batch, chans, channels_last, bf16 in CONVOLUTIONS:
        layout = torch.channels_last if channels_last else torch.contiguous_format
        conv = torch.nn.Conv2d(chans, chans, 3, padding=1).to(memory_format=layout)
        x = torch.randn(batch, chans, H, W).contiguous(memory_format=layout)
        flops = 2 * batch * chans * chans * 9 * H * W

        def run(conv: torch.nn.Module = conv, x: torch.Tensor = x, bf16: bool = bf16) -> None:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                conv(x)

        out[name] = flops / timeit(run, repeats * 2) / 1e9
    return out


def conv_floor_gflops(conv: dict[str, float]) -> float:
    """The floor's throughput: the best float32 3x3 convolution of the run."""
    return max(gflops for (name, *_, bf16), gflops in zip(CONVOLUTIONS, conv.values(), strict=True) if not bf16)


def bench_metrics(repeats: int) -> dict[str, tuple[float, float]]:
    """(recon_lib, numpy + skimage reference) seconds on one 8-slice volume, for float32 and float64
    inputs (both compute SSIM in the inputs' precision: scikit-image keeps float32 images float32)."""
    from skimage.metrics import structural_similarity

    from recon_lib.metrics.quality import volume_metrics

    rng = np.random.default_rng(0)
    gt64 = rng.random((8, RH, RW))
    pred64 = gt64 + 0.05 * rng.standard_normal(gt64.shape)
    out = {}
    for name, (gt, pred) in {
        "float32": (gt64.astype(np.float32), pred64.astype(np.float32)),
        "float64": (gt64, pred64),
    }.items():

        def reference(gt: np.ndarray = gt, pred: np.ndarray = pred) -> None:
            dr = gt.max()
            np.linalg.norm(gt - pred) ** 2 / np.linalg.norm(gt) ** 2
            10 * np.log10(dr**2 / np.mean((gt - pred) ** 2))
            np.mean([structural_similarity(g, p, data_range=dr) for g, p in zip(gt, pred, strict=True)])

        out[name] = (
            timeit(lambda gt=gt, pred=pred: volume_metrics(gt, pred), repeats * 2),
            timeit(reference, repeats * 2),
        )
    return out


_PEAK_RSS_PROBE = """
import resource, sys
try:  # Linux: the high-water mark of this process's own memory map (reset by exec)
    kib = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:'))
except OSError:  # elsewhere ru_maxrss (KiB on Linux, bytes on macOS)
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == 'darwin' else 1)
print(kib)
"""


def peak_rss(code: str) -> float:
    """Peak resident memory (MiB) of a fresh Python process running ``code``.

    Not ``ru_maxrss`` on Linux: a child keeps the parent's high-water mark across fork + exec,
    so every child of this (large) benchmark process would report the parent's peak.
    """
    out = subprocess.run(
        [sys.executable, "-c", code + "\n" + _PEAK_RSS_PROBE], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    if out.returncode != 0:
        print(f"peak-RSS probe failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return float("nan")
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoints", default=str(ROOT / "checkpoints"))
    parser.add_argument(
        "--data", default=str(ROOT / "data" / "knee"), help="a prepared dataset (a real slice, loading)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"threads": args.threads, "torch": torch.__version__}

    sn, gan, source = load_pair(Path(args.checkpoints), ACCELERATION)  # the SN-GAN of the slices' AF
    results["models"] = source
    slice_batch = real_slice(Path(args.data))
    print(f"## Benchmarks ({args.threads} threads, torch {torch.__version__}; models: {source})\n")
    print("| operation | median time | target |\n|---|---:|---|")
    for name, t, target in bench_interpolation(sn, gan, args.repeats):
        print(f"| {name} | {t * 1e3:.2f} ms | {target} |")
        results[name] = t
    report_slider(sn, gan, args.repeats, slice_batch, results)
    report_models(args.repeats, results)
    report_levers(sn, args.repeats, slice_batch, results)
    report_floor(sn, args.repeats, results)
    report_rewrites(args.repeats, Path(args.data), results)
    report_metrics(args.repeats, results)
    report_memory(args.threads, str(args.checkpoints), results)
    if args.json:  # written whole or not at all
        from recon_lib.core.atomic import atomic_path

        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1, default=float))
    return 0


# ---- the report's sections: each prints its rows and adds its numbers to ``results`` ------------
def _slider_round_trip(
    sn: torch.nn.Module, gan: torch.nn.Module, batch: dict[str, Any], compute: Any, repeats: int, widgets: bool = True
) -> float:
    """Median seconds of a new alpha with the app's widgets (so the PNGs, metrics and curve render;
    ``widgets=False``: the network and the metrics only, what earlier versions of this benchmark timed)."""
    from recon_lib.teaching.explorer import AlphaExplorer

    explorer = AlphaExplorer(sn, gan, batch, compute=compute)
    if widgets:
        explorer.widget  # noqa: B018 - builds the widgets: each move then renders its PNGs and HTML
    alphas = iter(np.linspace(0.013, 0.987, 10_000))
    return timeit(lambda: explorer.set_alpha(float(next(alphas))), repeats)


def report_slider(
    sn: torch.nn.Module, gan: torch.nn.Module, repeats: int, slice_batch: dict[str, Any] | None, results: dict[str, Any]
) -> None:
    """The alpha slider's round trip with its widgets: a new alpha (default settings and float32), a
    visited one, and the app's prefetch."""
    try:
        from recon_lib.core.compute import Compute
        from recon_lib.teaching.explorer import AlphaExplorer
    except ImportError as err:
        print(f"| α-slider round trip | n/a ({err}) | ≤ 250 ms |")
        return
    batch = slice_batch if slice_batch is not None else synthetic_batch()
    t_new = _slider_round_trip(sn, gan, batch, Compute(), repeats)
    t_fp32 = _slider_round_trip(sn, gan, batch, Compute.fp32(), repeats)
    t_bare = _slider_round_trip(sn, gan, batch, Compute(), repeats, widgets=False)
    explorer = AlphaExplorer(sn, gan, batch)
    explorer.set_alpha(0.5)
    t_cached = timeit(lambda: explorer.set_alpha(0.5), repeats)
    print(
        "| α-slider new α (interpolate + forward + metrics + PNGs), default settings "
        f"| {t_new * 1e3:.0f} ms | ≤ 250 ms |"
    )
    print(f"| α-slider new α, float32 (Compute.fp32()) | {t_fp32 * 1e3:.0f} ms | — |")
    print(f"| α-slider new α without widgets (network + metrics; the earlier definition) | {t_bare * 1e3:.0f} ms | — |")
    print(f"| α-slider visited α (cached) | {t_cached * 1e3:.2f} ms | ≤ 250 ms |")
    fresh = AlphaExplorer(sn, gan, batch)
    t0 = time.perf_counter()
    fresh.precompute()  # what the app's background prefetch computes after the first paint
    t_pre = time.perf_counter() - t0
    print(
        f"| compute all {len(fresh.slider_positions())} slider positions (the app's background prefetch) "
        f"| {t_pre:.1f} s | — |"
    )
    results |= {"slider_new_alpha_s": t_new, "slider_new_alpha_fp32_s": t_fp32, "slider_cached_s": t_cached}
    results["slider_new_alpha_no_widgets_s"] = t_bare
    results["slider_precompute_s"] = t_pre


def report_models(repeats: int, results: dict[str, Any]) -> None:
    print("\n| model (default settings) | parameters | inference / slice | training throughput |\n|---|---:|---:|---:|")
    for name, t_inf, thr, params in bench_models(repeats):
        inf = "—" if np.isnan(t_inf) else f"{t_inf * 1e3:.0f} ms"
        print(f"| {name} | {params:,} | {inf} | {thr:.2f} slices/s |")
        results[f"model:{name}"] = {"params": params, "inference_s": t_inf, "train_slices_per_s": thr}


def report_levers(
    sn: torch.nn.Module, repeats: int, slice_batch: dict[str, Any] | None, results: dict[str, Any]
) -> None:
    lv = bench_levers(sn, repeats, slice_batch)
    print(
        "\n| lever (same run, interleaved rounds) | SN forward | speed-up | SN training step | speed-up "
        "| PSNR change (real slice) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name in LEVERS:
        fwd, step = lv[f"forward {name}_s"], lv[f"step {name}_s"]
        speed_f, speed_s = lv["forward fp32_s"] / fwd, lv["step fp32_s"] / step
        change = lv[f"psnr change {name}_db"]
        print(
            f"| {name} | {fwd * 1e3:.0f} ms | {speed_f:.2f}× | {step * 1e3:.0f} ms | {speed_s:.2f}× "
            f"| {change:+.3f} dB |"
        )
    per_slice = lv["step batch 2, default_s"] / 2
    default = lv["step bf16 + channels_last (default)_s"]
    print(
        f"| batch 2 (default settings; not in the recipe) | | | {per_slice * 1e3:.0f} ms / slice "
        f"| {default / per_slice:.2f}× vs batch 1 | |"
    )
    results["levers"] = lv


def report_floor(sn: torch.nn.Module, repeats: int, results: dict[str, Any]) -> None:
    """The convolution floor and the two target ratios, all from this run."""
    flops = forward_flops(sn, synthetic_batch())
    conv = bench_conv_throughput(repeats)
    best = conv_floor_gflops(conv)
    floor_s = flops / best / 1e9
    step_s = results["levers"]["step bf16 + channels_last (default)_s"]
    step_fp32_s = results["levers"]["step fp32_s"]
    print("\n| the floor (same run) | value |\n|---|---:|")
    print(f"| SN forward, counted FLOPs (convolutions; FFTs not counted) | {flops / 1e9:.2f} GFLOP |")
    for name, gflops in conv.items():
        print(f"| {name} | {gflops:.1f} GFLOP/s |")
    print(f"| forward floor: FLOPs at the best float32 3x3 throughput ({best:.0f} GFLOP/s) | {floor_s * 1e3:.1f} ms |")
    print(f"| training-step floor: 3 × the forward floor | {3 * floor_s * 1e3:.1f} ms |")
    print("\n| target (ratios in this run) | default settings | float32 | target |\n|---|---:|---:|---|")
    print(
        f"| SN training step / its floor | {step_s / (3 * floor_s):.2f}× | {step_fp32_s / (3 * floor_s):.2f}× | ≤ 3× |"
    )
    if "slider_new_alpha_s" in results:
        ratio, ratio_fp32 = results["slider_new_alpha_s"] / floor_s, results["slider_new_alpha_fp32_s"] / floor_s
        print(f"| α-slider new α / the forward floor | {ratio:.2f}× | {ratio_fp32:.2f}× | ≤ 3× |")
        results["slider_floor_ratio"], results["slider_floor_ratio_fp32"] = ratio, ratio_fp32
    results |= {"sn_forward_gflop": flops / 1e9, "conv_gflops": conv, "floor_gflops": best, "forward_floor_s": floor_s}
    results["step_floor_ratio"], results["step_floor_ratio_fp32"] = step_s / (3 * floor_s), step_fp32_s / (3 * floor_s)


def report_rewrites(repeats: int, data_root: Path, results: dict[str, Any]) -> None:
    rw = bench_rewrites(repeats)
    print("\n| rewriting (no setting; what it replaced beside it, same run) | before | after | speed-up |")
    print("|---|---:|---:|---:|")
    for label, before, after in (
        (
            "data consistency, one cascade (k-space definition → PreparedSense)",
            "dc definition (k-space)_s",
            "dc prepared (hybrid)_s",
        ),
        (
            "PReLU forward + backward, F = 16, full resolution (torch → fused)",
            "prelu torch_s",
            "prelu fused backward_s",
        ),
    ):
        print(f"| {label} | {rw[before] * 1e3:.2f} ms | {rw[after] * 1e3:.2f} ms | {rw[before] / rw[after]:.2f}× |")
    load_s = bench_loading(data_root, repeats)
    if load_s is not None:
        step_s = results["levers"]["step bf16 + channels_last (default)_s"]
        print(
            "| loading one training sample (read + mask), against the default step "
            f"| {load_s * 1e3:.1f} ms | {step_s * 1e3:.0f} ms | {load_s / step_s:.0%} of a step |"
        )
        rw["load_sample_s"] = load_s
    results["rewrites"] = rw


def report_metrics(repeats: int, results: dict[str, Any]) -> None:
    timings = bench_metrics(repeats)
    print(f"\n| metrics on an 8 x {RH} x {RW} volume | float32 | float64 |\n|---|---:|---:|")
    rows = (("recon_lib volume_metrics (NMSE, PSNR, SSIM)", 0), ("numpy + skimage reference (fastMRI's evaluate)", 1))
    for label, i in rows:
        print(f"| {label} | {timings['float32'][i] * 1e3:.1f} ms | {timings['float64'][i] * 1e3:.1f} ms |")
    ratios = {k: ref / ours for k, (ours, ref) in timings.items()}
    print(f"| ratio reference / recon_lib (same run) | {ratios['float32']:.2f}x | {ratios['float64']:.2f}x |")
    results["metrics_s"], results["metrics_reference_s"] = timings["float32"]
    results["metrics_float64_s"], results["metrics_reference_float64_s"] = timings["float64"]


def report_memory(threads: int, checkpoints: str, results: dict[str, Any]) -> None:
    """Peak RSS of a short training run and of a slider session, each in a fresh subprocess."""
    train_code = "\n".join(
        [
            f"import torch;torch.set_num_threads({threads})",
            "import sys;sys.path.insert(0,'benchmarks')",
            "from benchmark import synthetic_batch",
            "from recon_lib.models.sensitivity_network import SensitivityNetwork",
            "from recon_lib.models.inference import reconstruct",
            "from recon_lib.metrics.losses import sn_loss",
            "m=SensitivityNetwork(num_cascades=5,features=16);o=torch.optim.RMSprop(m.parameters(),1e-4)",
            "b=synthetic_batch()",
            "for _ in range(3):",
            " l=sn_loss(reconstruct(m,b).abs(),b['target'],data_range=b['max']);o.zero_grad();l.backward();o.step()",
        ]
    )
    slider_code = "\n".join(
        [
            f"import torch;torch.set_num_threads({threads})",
            "import sys;sys.path.insert(0,'benchmarks')",
            "from benchmark import synthetic_batch, load_pair",
            "from pathlib import Path",
            "from recon_lib.teaching.explorer import AlphaExplorer",
            f"sn,gan,_=load_pair(Path({checkpoints!r}),{ACCELERATION})",
            "e=AlphaExplorer(sn,gan,synthetic_batch())",
            "for a in (0.1,0.3,0.5,0.7,0.9): e.set_alpha(a)",
        ]
    )
    rss_train, rss_slider = peak_rss(train_code), peak_rss(slider_code)
    print(f"\n| memory | peak RSS |\n|---|---:|\n| SN training (teaching model, batch 1) | {rss_train:.0f} MiB |")
    print(f"| α-slider session (two models + explorer) | {rss_slider:.0f} MiB |")
    results["peak_rss_train_mib"], results["peak_rss_slider_mib"] = rss_train, rss_slider


if __name__ == "__main__":
    sys.exit(main())
