"""Speed and memory benchmarks: prints a Markdown table (nothing here is a timed test).

    python benchmarks/benchmark.py [--checkpoints checkpoints] [--threads 2] [--repeats 5]

Measured at the teaching geometry (15 coils, 160 x 184 k-space grid after readout-oversampling
removal, 160 x 160 reference):

* weight interpolation alone (``interpolate_alpha`` and the in-place ``ModelInterpolator``),
* the alpha-slider round trip (interpolate weights, forward, render PNGs) -- target <= 250 ms,
* inference time per slice and training throughput (slices/s) per model,
* metric throughput: recon_lib's NMSE/PSNR/SSIM vs the skimage reference on the same volume
  (float32 and float64 volumes; both compute SSIM in the inputs' precision),
* what bounds the slider: the SN's forward FLOPs (torch's FLOP counter: convolutions and matrix
  products; the FFTs are not counted) against the convolution throughput this CPU reaches,
* the per-step levers: SN forward and training step in fp32, under bf16 autocast and with channels_last weights,
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
    mask = mask_to_tensor(sample_mask(W, 0.04, 8, seed=seed, padding=(4, 180))).expand(batch, 1, 1, W).contiguous()
    target = x.abs()[:, (H - RH) // 2 : (H - RH) // 2 + RH, (W - RW) // 2 : (W - RW) // 2 + RW].contiguous()
    return {
        "kspace": sens_expand(x, maps, mask),
        "maps": maps,
        "mask": mask,
        "target": target,
        "foreground": torch.ones_like(target, dtype=torch.bool),
        "max": target.amax(dim=(1, 2)),
    }


def load_pair(checkpoints: Path):
    from recon_lib.models.checkpoint import load_model
    from recon_lib.models.sensitivity_network import SensitivityNetwork
    from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN

    try:
        sn, _ = load_model(FINETUNE_SN.checkpoint_path(checkpoints))
        gan, _ = load_model(FINETUNE_GAN.checkpoint_path(checkpoints))
        return sn, gan, "shipped checkpoints"
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
    """(name, inference s/slice, training slices/s, parameters)."""
    from recon_lib.models.checkpoint import build_model
    from recon_lib.models.inference import reconstruct
    from recon_lib.training.config import load_config
    from recon_lib.training.steps import Learner, training_step

    cfg = load_config(ROOT / "configs" / "teaching.yaml")
    batch = synthetic_batch()
    out = []
    for name, cls, conf in [
        ("SN (teaching)", "SensitivityNetwork", cfg.sn),
        ("U-Net (teaching)", "UNetReconstructor", cfg.unet),
        ("SN (paper: 10 cascades, F=64)", "SensitivityNetwork", {"num_cascades": 10, "features": 64}),
    ]:
        torch.manual_seed(0)
        model = build_model(cls, dict(conf))
        params = sum(p.numel() for p in model.parameters())
        model.eval()

        def infer(model: torch.nn.Module = model) -> None:  # bind this iteration's model
            with torch.inference_mode():
                reconstruct(model, batch)

        t_inf = timeit(infer, max(2, repeats // 2) if "paper" in name else repeats)
        model.train()
        learner = Learner(model, torch.optim.RMSprop(model.parameters(), lr=1e-4))
        t_step = timeit(lambda learner=learner: training_step(learner, batch), 2 if "paper" in name else repeats)
        out.append((name, t_inf, 1.0 / t_step, params))
        if name == "SN (teaching)":
            disc = build_model("PatchDiscriminator", dict(cfg.discriminator))
            st = cfg.stages["finetune_gan"]
            gan = Learner(  # the trainer's SN-GAN step: one D step, then gamma L_SN + LSGAN for the SN
                model,
                torch.optim.RMSprop(model.parameters(), lr=st.lr),
                disc=disc,
                d_optimiser=torch.optim.Adam(disc.parameters(), lr=st.d_lr, betas=(0.5, 0.999)),
                gamma=st.gamma,
            )

            def gan_step(gan: Learner = gan) -> None:
                training_step(gan, batch)

            out.append(("SN-GAN step (teaching, incl. D)", float("nan"), 1.0 / timeit(gan_step, repeats), params))
    return out


#: the per-step levers beside plain fp32: (name, bf16 autocast, channels_last weights)
LEVERS = (("fp32", False, False), ("bf16", True, False), ("channels_last", False, True))


def bench_levers(sn: torch.nn.Module, repeats: int, rounds: int = 3) -> dict[str, float]:
    """The CPU levers of the models issue, in one run: SN forward and training step in fp32, under
    bf16 autocast (convolutions in bf16; FFTs and data consistency stay complex64) and with
    channels_last weights, and each lever's PSNR change of the forward's output on the synthetic
    slice. The variants are timed in interleaved rounds (median of the rounds' medians), so a
    machine warming up or throttling does not favour whichever runs last."""
    import copy

    from recon_lib.metrics.quality import psnr
    from recon_lib.models.inference import reconstruct
    from recon_lib.training.steps import Learner, training_step

    batch = synthetic_batch()
    runs: dict[str, Callable[[], Any]] = {}
    images = {}
    for name, bf16, channels_last in LEVERS:
        model = copy.deepcopy(sn).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)

        def forward(model: torch.nn.Module = model, bf16: bool = bf16) -> torch.Tensor:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return reconstruct(model, batch)

        images[name] = forward()[0].abs().float().numpy()
        trained = copy.deepcopy(model).train()
        learner = Learner(trained, torch.optim.RMSprop(trained.parameters(), lr=1e-4))

        def step(learner: Learner = learner, bf16: bool = bf16) -> None:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                training_step(learner, batch)

        runs[f"forward_{name}_s"], runs[f"step_{name}_s"] = forward, step
    times: dict[str, list[float]] = {key: [] for key in runs}
    for _ in range(rounds):
        for key, fn in runs.items():
            times[key].append(timeit(fn, repeats))
    out = {key: statistics.median(values) for key, values in times.items()}
    target = batch["target"][0].numpy()
    for name, _, _ in LEVERS[1:]:
        out[f"psnr_change_{name}_db"] = psnr(target, images[name]) - psnr(target, images["fp32"])
    return out


def forward_flops(model: torch.nn.Module, batch: dict[str, Any]) -> int:
    """FLOPs of one forward pass counted by ``torch.utils.flop_counter`` (convolutions, matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    from recon_lib.models.inference import reconstruct

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        reconstruct(model, batch)
    return int(counter.get_total_flops())


def bench_conv_throughput(repeats: int) -> list[tuple[str, float]]:
    """GFLOP/s of single 3x3 convolutions at the teaching grid: wide (near this CPU's peak) and
    at the teaching SN's width (F=16 channels), both in inference mode."""
    out = []
    for name, batch, chans in [
        ("3x3 conv, 64 -> 64 channels, batch 4", 4, 64),
        ("3x3 conv, 16 -> 16 channels, batch 1", 1, 16),
    ]:
        conv = torch.nn.Conv2d(chans, chans, 3, padding=1)
        x = torch.randn(batch, chans, H, W)
        flops = 2 * batch * chans * chans * 9 * H * W

        def run(conv: torch.nn.Module = conv, x: torch.Tensor = x) -> None:
            with torch.inference_mode():
                conv(x)

        out.append((name, flops / timeit(run, repeats * 2) / 1e9))
    return out


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
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"threads": args.threads, "torch": torch.__version__}

    sn, gan, source = load_pair(Path(args.checkpoints))
    print(f"## Benchmarks ({args.threads} threads, torch {torch.__version__}; models: {source})\n")
    print("| operation | median time | target |\n|---|---:|---|")
    for name, t, target in bench_interpolation(sn, gan, args.repeats):
        print(f"| {name} | {t * 1e3:.2f} ms | {target} |")
        results[name] = t
    report_slider(sn, gan, args.repeats, results)
    report_models(args.repeats, results)
    report_slider_bound(sn, args.repeats, results)
    report_metrics(args.repeats, results)
    report_levers(sn, args.repeats, results)
    report_memory(args.threads, str(args.checkpoints), results)
    if args.json:  # written whole or not at all
        from recon_lib.core.atomic import atomic_path

        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(results, indent=1, default=float))
    return 0


# ---- the report's sections: each prints its rows and adds its numbers to ``results`` ------------
def report_slider(sn: torch.nn.Module, gan: torch.nn.Module, repeats: int, results: dict[str, Any]) -> None:
    """The alpha slider's round trip: a new alpha, a visited one, and the app's prefetch."""
    try:
        from recon_lib.teaching.explorer import AlphaExplorer

        explorer = AlphaExplorer(sn, gan, synthetic_batch())
        alphas = iter(np.linspace(0.013, 0.987, 10_000))
        t_cold = timeit(lambda: explorer.set_alpha(float(next(alphas))), repeats)
        explorer.set_alpha(0.5)
        t_cached = timeit(lambda: explorer.set_alpha(0.5), repeats)
        print(f"| α-slider round trip, new α (interpolate + forward + render) | {t_cold * 1e3:.0f} ms | ≤ 250 ms |")
        print(f"| α-slider round trip, visited α (cached) | {t_cached * 1e3:.2f} ms | ≤ 250 ms |")
        fresh = AlphaExplorer(sn, gan, synthetic_batch())
        t0 = time.perf_counter()
        fresh.precompute()  # what the app's background prefetch computes after the first paint
        t_pre = time.perf_counter() - t0
        n_positions = len(fresh.slider_positions())
        print(f"| compute all {n_positions} slider positions (the app's background prefetch) | {t_pre:.1f} s | — |")
        results["slider_new_alpha_s"], results["slider_cached_s"], results["slider_precompute_s"] = (
            t_cold,
            t_cached,
            t_pre,
        )
    except ImportError as err:
        print(f"| α-slider round trip | n/a ({err}) | ≤ 250 ms |")


def report_models(repeats: int, results: dict[str, Any]) -> None:
    print("\n| model | parameters | inference / slice | training throughput |\n|---|---:|---:|---:|")
    for name, t_inf, thr, params in bench_models(repeats):
        inf = "—" if np.isnan(t_inf) else f"{t_inf * 1e3:.0f} ms"
        print(f"| {name} | {params:,} | {inf} | {thr:.2f} slices/s |")
        results[f"model:{name}"] = {"params": params, "inference_s": t_inf, "train_slices_per_s": thr}


def report_slider_bound(sn: torch.nn.Module, repeats: int, results: dict[str, Any]) -> None:
    """What bounds the slider: FLOPs of the forward pass against the convolution throughput."""
    batch = synthetic_batch()
    flops = forward_flops(sn, batch)
    with torch.inference_mode():
        t_fwd = timeit(lambda: sn(batch["kspace"], batch["maps"], batch["mask"]), repeats)
    conv = bench_conv_throughput(repeats)
    print("\n| what bounds the slider | value |\n|---|---:|")
    print(f"| SN forward, counted FLOPs (convolutions; FFTs not counted) | {flops / 1e9:.2f} GFLOP |")
    print(f"| SN forward, measured time | {t_fwd * 1e3:.0f} ms ({flops / t_fwd / 1e9:.1f} GFLOP/s) |")
    for name, gflops in conv:
        print(f"| {name} | {gflops:.1f} GFLOP/s |")
    peak = max(g for _, g in conv)
    print(f"| SN forward at the best conv throughput (a lower bound) | {flops / peak / 1e9 * 1e3:.0f} ms |")
    results["sn_forward_gflop"], results["sn_forward_s"] = flops / 1e9, t_fwd
    results["conv_gflops"] = dict(conv)
    floor_s = flops / peak / 1e9
    if "slider_new_alpha_s" in results:  # the latency target: a new alpha <= 3x the convolution floor
        ratio = results["slider_new_alpha_s"] / floor_s
        print(f"| α-slider new α / SN convolution floor (same run) | {ratio:.1f}× | ≤ 3× |")
        results["slider_floor_ratio"] = ratio


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


def report_levers(sn: torch.nn.Module, repeats: int, results: dict[str, Any]) -> None:
    lv = bench_levers(sn, repeats)
    print("\n| per-step lever (same run, interleaved) | fp32 | bf16 autocast | channels_last |")
    print("|---|---:|---:|---:|")
    for label, key in (("SN forward (inference)", "forward"), ("SN training step (L1 + SSIM)", "step")):
        base = lv[f"{key}_fp32_s"]
        cells = [
            f"{lv[f'{key}_{name}_s'] * 1e3:.0f} ms ({base / lv[f'{key}_{name}_s']:.2f}x)" for name, _, _ in LEVERS[1:]
        ]
        print(f"| {label} | {base * 1e3:.0f} ms | {' | '.join(cells)} |")
    changes = [f"{lv[f'psnr_change_{name}_db']:+.3f} dB" for name, _, _ in LEVERS[1:]]
    print(f"| PSNR change of the forward's output vs fp32 | | {' | '.join(changes)} |")
    results["levers"] = lv


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
            f"sn,gan,_=load_pair(Path({checkpoints!r}))",
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
