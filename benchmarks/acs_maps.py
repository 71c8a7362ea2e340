"""How good are coil maps calibrated on the acquired centre lines only? (issue: maps from acquired data)

For test volumes of the embedded dataset, ESPIRiT maps calibrated on the auto-calibration lines
that the AF 4 / AF 8 masks acquire (``recon_lib.physics.masks.center_lines``: a rectangular region,
``calib_width`` central readout rows x the acquired lines) are compared with the full-data maps of
the prepared sidecar (24 x 24 block of the fully sampled k-space). Quality measure: the SENSE
combination of the *fully sampled* k-space with each set of maps, ``|E^H y|`` on the foreground,
relative to the stored SENSE reference (the ground truth); and the fraction of foreground pixels
where the map support (top eigenvalue > crop) is lost.

    python benchmarks/acs_maps.py --data data/knee --volumes 2 --slices 2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from recon_lib.core.tensors import center_crop
from recon_lib.data.fastmri_io import read_volume_info
from recon_lib.data.layout import raw_volumes, sidecar_path
from recon_lib.data.prepare import calibration_fractions
from recon_lib.physics.coils import sens_reduce
from recon_lib.physics.espirit import espirit_maps
from recon_lib.physics.fft import remove_readout_oversampling
from recon_lib.physics.masks import center_lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/knee")
    parser.add_argument("--volumes", type=int, default=2)
    parser.add_argument("--slices", type=int, default=2, help="central slices per volume")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    # (readout rows, kernel width, crop) tried on the acquired lines of each AF
    args.grid = [(24, 6, 0.95), (48, 5, 0.95), (48, 4, 0.95), (24, 3, 0.95), (48, 3, 0.95)]
    torch.set_num_threads(args.threads)
    volumes = raw_volumes(Path(args.data) / "test")[: args.volumes]
    if not volumes:
        raise SystemExit(f"no raw volumes in {Path(args.data) / 'test'}")
    # the centre fractions preparation calibrates on for these files (fastMRI's physical band, or
    # fastMRI's own fractions for files of simulator 1): recon_lib.data.prepare.calibration_fractions
    fractions = {tuple(sorted(calibration_fractions(read_volume_info(p)).items())) for p in volumes}
    if len(fractions) != 1:
        raise SystemExit(f"the test volumes are calibrated on different centre fractions: {sorted(fractions)}")
    configs = [("full data 24x24, k=6", None, 24, 6, 0.95)]
    for af, cf in calibration_fractions(read_volume_info(volumes[0])).items():
        for rows, k, crop in args.grid:
            configs.append((f"AF {af:g} ACS (cf {cf:g}), {rows} readout rows, k={k}, crop {crop:g}", cf, rows, k, crop))
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, *_ in configs}
    for raw_path in volumes:
        with h5py.File(raw_path, "r") as f, h5py.File(sidecar_path(raw_path), "r") as side:
            s0 = f["kspace"].shape[0] // 2 - args.slices // 2
            raw = torch.from_numpy(f["kspace"][s0 : s0 + args.slices])
            ref = torch.from_numpy(side["sense_reference"][s0 : s0 + args.slices])
            fg = torch.from_numpy(side["foreground"][s0 : s0 + args.slices].astype(bool))
        kspace = remove_readout_oversampling(raw)
        width = raw.shape[-1]
        for name, cf, rows, k, crop in configs:
            cols = None if cf is None else center_lines(width, cf)
            t0 = time.perf_counter()
            try:
                maps = espirit_maps(
                    raw, calib_width=rows, kernel_width=k, crop=crop, crop_readout=True, calib_columns=cols
                )
            except ValueError as err:
                print(f"{name}: {err}")
                continue
            seconds = time.perf_counter() - t0
            x = center_crop(sens_reduce(kspace, maps), tuple(ref.shape[-2:])).abs()
            err = float((x - ref.abs())[fg].norm() / ref.abs()[fg].norm())
            lost = float(((x == 0) & fg).sum() / fg.sum())
            results[name].append((err, lost, seconds))
    print("| calibration | lines | SENSE error vs reference (foreground) | support lost | s per slice |")
    print("|---|---:|---:|---:|---:|")
    for name, cf, _rows, _k, _crop in configs:
        if not results[name]:
            continue
        e, lost, sec = (np.mean([r[i] for r in results[name]]) for i in range(3))
        lines = (
            "24" if cf is None else str(center_lines(raw.shape[-1], cf).stop - center_lines(raw.shape[-1], cf).start)
        )
        print(f"| {name} | {lines} | {100 * e:.2f} % | {100 * lost:.2f} % | {sec / args.slices:.2f} |")


if __name__ == "__main__":
    main()
