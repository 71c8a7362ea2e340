"""Draw docs/dataset_montage.png: what the simulated fastMRI-format knee data look like.

Usage (from the repository root)::

    python data_scripts/make_montage.py [--out docs/dataset_montage.png] [--seed 0] [--geometry teaching]

Rows: (1) reconstruction_rss of PD and PDFS slices from different simulated patients;
(2) single-coil images; (3) true coil-sensitivity magnitudes and (4) phases; (5) k-space
log-magnitude, tissue labels, the noise-free object's magnitude and background phase, and a
zoom on the trabecular and muscle texture.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from recon_lib.data.phantom.simulate import (  # noqa: E402
    DEFAULT_SIMULATOR,
    GEOMETRIES,
    SIMULATORS,
    Tissue,
    readout_cropped_coil_images,
    simulate_volume,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Draw the dataset montage.")
    parser.add_argument("--out", type=Path, default=Path("docs/dataset_montage.png"), help="output PNG")
    parser.add_argument("--seed", type=int, default=0, help="first volume seed (default 0)")
    parser.add_argument("--geometry", choices=sorted(GEOMETRIES), default="teaching")
    parser.add_argument("--slices", type=int, default=8, help="slices per simulated volume (default 8)")
    parser.add_argument(
        "--simulator",
        type=int,
        choices=SIMULATORS,
        default=DEFAULT_SIMULATOR,
        help=f"knee simulator (default {DEFAULT_SIMULATOR})",
    )
    return parser.parse_args(argv)


def show(ax, image: np.ndarray, title: str, **kwargs) -> None:
    ax.imshow(image, **{"cmap": "gray", **kwargs})
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def grey(ax, image: np.ndarray, title: str) -> None:
    show(ax, image, title, vmin=0, vmax=float(np.percentile(image, 99.8)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mid = args.slices // 2
    volumes = [
        simulate_volume(args.seed + i, acq, geometry=args.geometry, num_slices=args.slices, simulator=args.simulator)
        for i, acq in enumerate(["CORPD_FBK", "CORPD_FBK", "CORPDFS_FBK", "CORPDFS_FBK"])
    ]
    ref = volumes[0]
    cols = 5
    fig, axes = plt.subplots(5, cols, figsize=(2.6 * cols, 2.75 * 5))

    # (1) reconstruction_rss: PD and PDFS, different patients and slices
    panels = [(0, mid), (0, args.slices - 1), (1, mid), (2, mid), (3, 1)]
    for ax, (v, s) in zip(axes[0], panels, strict=True):
        vol = volumes[v]
        grey(ax, vol.reconstruction_rss[s], f"{vol.attrs['acquisition']} pt{v} z={vol.slice_positions_mm[s]:+.0f}mm")

    # (2)-(4) coil images, sensitivity magnitudes and phases
    coils = np.linspace(0, ref.geometry.num_coils - 1, cols).round().astype(int)
    coil_images = readout_cropped_coil_images(torch.from_numpy(ref.kspace[mid])).abs().numpy()  # (C, H/2, W)
    vmax = float(np.percentile(coil_images, 99.8))
    for j, c in enumerate(coils):
        show(axes[1, j], coil_images[c], f"coil {c} image", vmin=0, vmax=vmax)
        # simulator 1's maps are unit-norm; simulator 2's receive fields are not (one scale for all coils)
        map_max = max(1.0, float(np.percentile(np.abs(ref.maps[mid]), 99.8)))
        show(axes[2, j], np.abs(ref.maps[mid, c]), f"|S_{c}|", vmin=0, vmax=map_max, cmap="viridis")
        show(axes[3, j], np.angle(ref.maps[mid, c]), f"phase S_{c}", vmin=-np.pi, vmax=np.pi, cmap="twilight")

    # (5) k-space, labels, object magnitude and phase, texture zoom
    kspace = np.log10(np.abs(ref.kspace[mid, coils[0]]) + 1e-12)
    show(
        axes[4, 0], kspace, f"log10|k| coil {coils[0]} (H={kspace.shape[0]})", vmin=np.percentile(kspace[:, 10:-10], 5)
    )
    show(
        axes[4, 1],
        ref.tissue_labels[mid],
        "tissue labels",
        cmap="tab10",
        vmin=0,
        vmax=len(Tissue) - 1,
        interpolation="nearest",
    )
    magnitude = np.abs(ref.image[mid])
    grey(axes[4, 2], magnitude, "noise-free |object|")
    show(
        axes[4, 3],
        np.where(magnitude > 0.1 * magnitude.max(), np.angle(ref.image[mid]), np.nan),
        "object phase",
        cmap="twilight",
        vmin=-np.pi,
        vmax=np.pi,
    )
    h, w = magnitude.shape
    zoom = ref.reconstruction_rss[mid][h // 2 - 60 : h // 2 + 4, 12:76]
    grey(axes[4, 4], np.kron(zoom, np.ones((2, 2))), "zoom: marrow, muscle (noisy)")

    geom = ref.geometry
    fig.suptitle(
        f"Simulated fastMRI-format multicoil knee ({geom.name}: "
        f"k-space {geom.kspace_shape[0]}x{geom.kspace_shape[1]}, {geom.num_coils} coils, "
        f"recon {geom.recon_size[0]}x{geom.recon_size[1]}; SNR PD {volumes[0].snr:.1f}, PDFS {volumes[2].snr:.1f})",
        fontsize=10,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
