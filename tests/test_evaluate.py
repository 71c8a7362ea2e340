"""Evaluation end to end on a tiny prepared dataset with tiny trained models."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import tiny_config

from recon_lib.core.tensors import center_crop
from recon_lib.data.phantom.simulate import simulate_volume, write_volume
from recon_lib.data.prepare import prepare_folder
from recon_lib.evaluation import table1 as evaluate
from recon_lib.evaluation.baselines import L1_FRACTIONS
from recon_lib.metrics.panel import REFERENCE_METRICS
from recon_lib.metrics.perceptual import haarpsi, vif
from recon_lib.metrics.quality import nmse, psnr
from recon_lib.models.checkpoint import load_model
from recon_lib.models.sensitivity_network import SensitivityNetwork
from recon_lib.training import trainer as train


@pytest.fixture(scope="module")
def tiny_setup(tmp_path_factory) -> tuple[Path, Path]:
    """Train/val/test with one 2-slice volume each (test: one PD, one PDFS) and tiny checkpoints."""
    root = tmp_path_factory.mktemp("evalknee")
    write_volume(root / "train" / "t0.h5", simulate_volume(seed=21, acquisition="CORPD_FBK", num_slices=2))
    write_volume(root / "val" / "v0.h5", simulate_volume(seed=22, acquisition="CORPDFS_FBK", num_slices=2))
    write_volume(root / "test" / "a_pd.h5", simulate_volume(seed=23, acquisition="CORPD_FBK", num_slices=2))
    write_volume(root / "test" / "b_pdfs.h5", simulate_volume(seed=24, acquisition="CORPDFS_FBK", num_slices=2))
    prepare_folder(root)
    out = tmp_path_factory.mktemp("evalrun")
    train.run_pipeline(tiny_config(root, out), progress=False)
    return root, out / "ckpt"


def test_table_has_every_method_group_and_fixed_masks(tiny_setup):
    root, ckpt = tiny_setup
    methods = evaluate.standard_methods(ckpt, cg_iters=3)
    table = evaluate.evaluate_table(root / "test", methods, accelerations=(4, 8), progress=False)
    rows = table.summary()
    assert {(r["acquisition"], r["acceleration"]) for r in rows} == {
        (a, f) for a in ("PD", "PDFS", "ALL") for f in (4, 8)
    }
    assert {r["method"] for r in rows} == set(methods) and len(methods) == 6
    zf = {(r["acquisition"], r["acceleration"]): r for r in rows if r["method"] == "Zero-filled"}
    assert zf[("ALL", 4)]["psnr_mean"] > zf[("ALL", 8)]["psnr_mean"]  # more data, better image
    md = table.to_markdown()
    assert "| ALL | 8 |" in md and "**" in md and "interpSN (α=0.5)" in md
    # the same fixed mask for every method: zero-filled recomputed from the dataset agrees exactly
    for info, batches in evaluate.iter_volumes(root / "test", 8):
        pred = np.concatenate([evaluate.zero_filled(b).abs().numpy() for b in batches])
        row = next(
            r
            for r in table.to_records()
            if r["method"] == "Zero-filled" and r["volume"] == info["fname"] and r["acceleration"] == 8
        )
        assert row["nmse"] == pytest.approx(nmse(info["target"], pred, mask=info["foreground"]), rel=1e-6)
        assert row["psnr"] == pytest.approx(psnr(info["target"], pred, mask=info["foreground"]), rel=1e-6)


def test_several_masks_per_volume_are_distinct_and_averaged_per_volume(tiny_setup):
    root, ckpt = tiny_setup
    methods = {"Zero-filled": lambda b: evaluate.zero_filled(b)}
    table = evaluate.evaluate_table(root / "test", methods, accelerations=(8,), progress=False, mask_seeds=(0, 1, 2))
    rows = table.to_records()
    assert len(rows) == 6 and {r["mask_seed"] for r in rows} == {0, 1, 2}
    pd_rows = [r for r in rows if r["acquisition"] == "PD"]
    assert len({round(r["psnr"], 6) for r in pd_rows}) == 3  # three different masks, three different scores
    summary = {r["acquisition"]: r for r in table.summary()}
    assert summary["PD"]["n"] == 1 and summary["PD"]["masks"] == 3
    assert summary["PD"]["psnr_mean"] == pytest.approx(np.mean([r["psnr"] for r in pd_rows]))
    # mask seed 0 is fastMRI's file-name seed: the single-mask evaluation is its first mask
    single = evaluate.evaluate_table(root / "test", methods, accelerations=(8,), progress=False)
    first = {r["volume"]: r["psnr"] for r in rows if r["mask_seed"] == 0}
    assert {r["volume"]: r["psnr"] for r in single.to_records()} == first


def test_scores_against_the_noise_free_image_where_the_raw_files_hold_it(tiny_setup, tmp_path):
    import shutil

    import h5py

    from recon_lib.data.fastmri_io import NOISE_FREE_KEY

    root, _ = tiny_setup
    methods = {"Zero-filled": lambda b: evaluate.zero_filled(b)}
    table = evaluate.evaluate_table(root / "test", methods, accelerations=(4,), progress=False)
    assert set(evaluate.TRUTH_METRICS) <= set(table.metrics)
    (info, batches), *_ = list(evaluate.iter_volumes(root / "test", 4))
    pred = np.concatenate([evaluate.zero_filled(b).abs().numpy() for b in batches])
    row = next(r for r in table.to_records() if r["volume"] == info["fname"])
    assert row["psnr_truth"] == pytest.approx(psnr(info["noise_free"], pred, mask=info["foreground"]), rel=1e-6)
    assert row["vif_truth"] == pytest.approx(vif(info["noise_free"], pred, mask=info["foreground"]), rel=1e-6)
    assert row["vif"] == pytest.approx(vif(info["target"], pred, mask=info["foreground"]), rel=1e-6)
    assert row["haarpsi"] == pytest.approx(haarpsi(info["target"], pred, mask=info["foreground"]), rel=1e-6)
    assert row["psnr_truth"] != pytest.approx(row["psnr"], abs=1e-3)  # the truth is not the noisy reference
    # real data (no noise-free image): the same table without the truth columns
    real = tmp_path / "real" / "test"
    shutil.copytree(root / "test", real)
    shutil.copytree(root / "test.prepared", tmp_path / "real" / "test.prepared")
    for path in real.glob("*.h5"):
        with h5py.File(path, "a") as f:
            del f[NOISE_FREE_KEY]
    assert not evaluate.has_truth(real)
    plain = evaluate.evaluate_table(real, methods, accelerations=(4,), progress=False)
    assert plain.metrics == REFERENCE_METRICS


def test_cg_iterations_are_chosen_by_the_lowest_mean_nmse(tiny_setup):
    from recon_lib.physics.classical import cg_sense

    root, _ = tiny_setup
    chosen = evaluate.choose_cg_iterations(root / "test", accelerations=(4,), max_iters=6)
    assert set(chosen) == {4} and 1 <= chosen[4] <= 6

    def mean_nmse(iters: int) -> float:
        def cg(b):  # written out, not the library's cg_method
            return center_crop(cg_sense(b["kspace"], b["maps"], b["mask"], num_iters=iters), b["target"].shape[-2:])

        method = {"CG": cg}
        table = evaluate.evaluate_table(root / "test", method, accelerations=(4,), progress=False)
        return float(np.mean([r["nmse"] for r in table.to_records()]))

    best = mean_nmse(chosen[4])
    assert all(best <= mean_nmse(n) + 1e-9 for n in {1, 3, 6} - {chosen[4]})


def test_l1_weight_is_chosen_by_the_lowest_mean_nmse(tiny_setup):
    root, _ = tiny_setup
    fractions = (0.0005, 0.004, 0.05)
    chosen = evaluate.choose_l1_fraction(root / "test", accelerations=(4,), fractions=fractions)

    def mean_nmse(f: float) -> float:
        table = evaluate.evaluate_table(
            root / "test", {"L1": evaluate.l1_method(f)}, accelerations=(4,), progress=False
        )
        return float(np.mean([r["nmse"] for r in table.to_records()]))

    errors = {f: mean_nmse(f) for f in fractions}
    assert errors[chosen[4]] == min(errors.values())
    assert len(set(errors.values())) == 3  # the weight matters
    with pytest.raises(ValueError, match="fractions must be positive"):
        evaluate.choose_l1_fraction(root / "test", fractions=(0.0,))


def test_alpha_sweep_endpoints_and_modes(tiny_setup):
    root, ckpt = tiny_setup
    sn, _ = load_model(ckpt / "sn_finetuned.pt")
    gan, _ = load_model(ckpt / "sn_gan.pt")
    records = evaluate.alpha_sweep(root / "test", sn, gan, alphas=(0.0, 0.5, 1.0), accelerations=(8,), progress=False)
    by = {(r["mode"], r["alpha"]): r for r in records}
    assert set(by) == {(m, a) for m in ("network", "image") for a in (0.0, 0.5, 1.0)}
    for a in (0.0, 1.0):  # at the endpoints both modes are the same model's output
        for key in ("nmse", "psnr", "ssim", "hf_energy_ratio", "vif", "gmsd", "haarpsi", "hfen"):
            assert by[("network", a)][key] == pytest.approx(by[("image", a)][key], rel=1e-5, abs=1e-7)
    fig_m, fig_p = evaluate.plot_alpha_sweep(records)
    assert len(fig_m.axes) == 6 and len(fig_p.axes) == 1
    assert "texture gap" in fig_p.axes[0].get_ylabel()  # perception: texture against the truth, not VIF


def test_command_line_writes_every_output(tiny_setup, tmp_path):
    root, ckpt = tiny_setup
    out = tmp_path / "results"
    code = evaluate.main(
        [
            "--data",
            str(root),
            "--checkpoints",
            str(ckpt),
            "--out",
            str(out),
            "--accelerations",
            "8",
            "--cg-iters",
            "2",
            "--mask-seeds",
            "2",
            "--bootstrap-reps",
            "500",
            "--no-progress",
        ]
    )
    assert code == 0
    payload = json.loads((out / "table1.json").read_text())
    assert {r["mask_seed"] for r in payload["rows"]} == {0, 1}
    assert {"acquisition", "acceleration", "method", "psnr_mean", "psnr_std"} <= set(payload["summary"][0])
    diffs = {(d["a"], d["b"], d["metric"]): d for d in payload["paired_differences"]}
    sn_cg = diffs[("SN", "CG-SENSE", "psnr")]
    assert sn_cg["volumes"] == 2 and sn_cg["masks"] == 2 and sn_cg["strata"] == {"PD": 1, "PDFS": 1}
    # one volume per contrast: nothing to resample within a stratum, so no interval (null, "n/a")
    assert sn_cg["ci_low"] is None and sn_cg["ci_high"] is None and math.isfinite(sn_cg["mean"])
    assert "n/a (a stratum of one volume)" in (out / "table1.md").read_text()
    assert ("interpSN (α=0.5)", "SN", "hf_energy_ratio") in diffs
    assert ("SN", "L1-wavelet", "psnr") in diffs  # the L1-wavelet row, its weight chosen on val/
    timing = json.loads((out / "timing.json").read_text())
    assert set(timing["l1_fraction"]) == {"8"} and timing["l1_fraction"]["8"] in L1_FRACTIONS
    assert "L1-wavelet weight" in (out / "table1.md").read_text()
    assert "SN − CG-SENSE" in (out / "table1.md").read_text()
    assert {p.name for p in out.iterdir()} >= {
        "table1.md",
        "table1.csv",
        "table1.json",
        "alpha_sweep.json",
        "alpha_metrics.png",
        "perception_distortion.png",
        "timing.json",
    }
    assert len(json.loads((out / "alpha_sweep.json").read_text())) == 22  # 11 alphas x 2 modes x 1 AF
    versus = json.loads((out / "network_vs_blend.json").read_text())
    assert {r["alpha"] for r in versus} == {round(0.1 * i, 1) for i in range(1, 10)}  # interior alphas only
    assert {r["metric"] for r in versus} == {"psnr", "ssim", "vif", "haarpsi", "hf_energy_ratio"}
    assert all(r["volumes"] == 2 and r["masks"] == 2 and 0 < r["p_value"] <= 1 for r in versus)
    assert "network α=0.5 − blend" in (out / "network_vs_blend.md").read_text()
    assert evaluate.main(["--data", str(root), "--mask-seeds", "0", "--out", str(out)]) == 2
    assert evaluate.main(["--data", str(root), "--l1-fraction", "-1", "--out", str(out)]) == 2
    assert evaluate.main(["--data", str(root), "--l1-fraction", "lots", "--out", str(out)]) == 2
    assert evaluate.main(["--data", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert evaluate.main(["--data", str(root), "--checkpoints", str(tmp_path), "--out", str(out)]) == 2


def test_network_vs_blend_pairs_rows_of_one_volume_and_mask(tiny_setup):
    root, ckpt = tiny_setup
    sn, _ = load_model(ckpt / "sn_finetuned.pt")
    gan, _ = load_model(ckpt / "sn_gan.pt")
    rows = evaluate.alpha_sweep_rows(
        root / "test", sn, gan, alphas=(0.0, 0.5, 1.0), accelerations=(8,), progress=False, mask_seeds=(0, 1)
    )
    assert len(rows) == 3 * 2 * 2 * 2  # alphas x modes x volumes x masks
    versus = evaluate.network_vs_blend(rows, metrics=("psnr",), reps=200)
    assert [(r["alpha"], r["metric"]) for r in versus] == [(0.5, "psnr")]
    # the mean is the mean over volumes of the per-volume (mask-averaged) network - blend differences
    by = {(r["mode"], r["volume"], r["mask_seed"]): r["psnr"] for r in rows if r["alpha"] == 0.5}
    volumes = sorted({r["volume"] for r in rows})
    expected = np.mean([np.mean([by[("network", v, m)] - by[("image", v, m)] for m in (0, 1)]) for v in volumes])
    assert versus[0]["mean"] == pytest.approx(expected, rel=1e-12)
    # the summary is the one alpha_sweep gives
    assert evaluate.summarise_sweep(rows) == evaluate.alpha_sweep(
        root / "test", sn, gan, alphas=(0.0, 0.5, 1.0), accelerations=(8,), progress=False, mask_seeds=(0, 1)
    )


def test_schedule_scores_per_cascade_and_global(tiny_setup):
    from recon_lib.models.interpolation import cascade_weights

    root, ckpt = tiny_setup
    sn, _ = load_model(ckpt / "sn_finetuned.pt")
    gan, _ = load_model(ckpt / "sn_gan.pt")
    n = len(sn.regularisers)
    schedules = {
        "global 0.5": [0.5, 0.5],
        "per cascade 0.5": cascade_weights(sn, [0.5] * n),
        "SN": [1.0, 0.0],
    }
    rows = evaluate.schedule_scores(root / "test", [sn, gan], schedules, accelerations=(8,))
    summary = {r["method"]: r for r in evaluate.summarise_sweep(rows)}
    assert set(summary) == set(schedules) and all(r["volumes"] == 2 for r in summary.values())
    # one alpha for every cascade is global interpolation; the SN schedule is the SN
    assert summary["per cascade 0.5"]["psnr"] == pytest.approx(summary["global 0.5"]["psnr"], abs=1e-4)
    sweep = {
        r["alpha"]: r
        for r in evaluate.alpha_sweep(root / "test", sn, gan, alphas=(0.0,), accelerations=(8,), progress=False)
        if r["mode"] == "network"
    }
    assert summary["SN"]["psnr"] == pytest.approx(sweep[0.0]["psnr"], rel=1e-9)
    with pytest.raises(ValueError, match=r"schedule 'bad': .*sum to 1"):
        evaluate.schedule_scores(root / "test", [sn, gan], {"bad": [0.7, 0.7]}, accelerations=(8,))


# ---- the SN-GAN of each acceleration (sn_gan_af<AF>.pt beside sn_gan.pt) -------------------------------
def _with_af8_sn_gan(ckpt: Path, folder: Path, model=None, **metadata) -> Path:
    """A copy of the checkpoint folder with an SN-GAN of AF 8's own, ``sn_gan_af8.pt``: by default the
    SN's weights under the SN-GAN's stage, so at AF 8 the SN-GAN is the SN (and every alpha too)."""
    import shutil

    from recon_lib.models.checkpoint import save_checkpoint

    shutil.copytree(ckpt, folder)
    sn, sn_meta = load_model(ckpt / "sn_finetuned.pt")
    meta = sn_meta | {"stage": "finetune_gan", "accelerations": [4, 8], "shipped_for": 8} | metadata
    save_checkpoint(folder / "sn_gan_af8.pt", sn if model is None else model, meta)
    return folder


def _psnr(table, method: str, af: int) -> list[float]:
    return [r["psnr"] for r in table.to_records() if r["method"] == method and r["acceleration"] == af]


def test_table1_uses_the_sn_gan_of_each_acceleration(tiny_setup, tmp_path):
    root, ckpt = tiny_setup
    folder = _with_af8_sn_gan(ckpt, tmp_path / "ckpt")
    rows = ("SN", "SN-GAN", "interpSN (α=0.5)")
    methods = evaluate.standard_methods(folder, cg_iters=2, accelerations=(4, 8))
    table = evaluate.evaluate_table(root / "test", {k: methods[k] for k in rows}, (4, 8), progress=False)
    assert _psnr(table, "SN-GAN", 8) == _psnr(table, "SN", 8)  # AF 8: sn_gan_af8.pt, the SN's weights
    assert _psnr(table, "interpSN (α=0.5)", 8) == pytest.approx(_psnr(table, "SN", 8), abs=1e-4)
    shared = evaluate.standard_methods(ckpt, cg_iters=2, accelerations=(4, 8))  # no per-AF file: sn_gan.pt
    before = evaluate.evaluate_table(root / "test", {k: shared[k] for k in rows}, (4, 8), progress=False)
    for row in rows[1:]:  # AF 4 still uses sn_gan.pt
        assert _psnr(table, row, 4) == _psnr(before, row, 4)
    assert _psnr(table, "SN-GAN", 4) != _psnr(table, "SN", 4)
    assert _psnr(before, "SN-GAN", 8) != _psnr(before, "SN", 8)
    # no accelerations given: the known ones (4 and 8) are served all the same
    default = evaluate.standard_methods(folder, cg_iters=2)
    again = evaluate.evaluate_table(root / "test", {"SN-GAN": default["SN-GAN"]}, (4, 8), progress=False)
    assert _psnr(again, "SN-GAN", 8) == _psnr(table, "SN", 8) and _psnr(again, "SN-GAN", 4) == _psnr(
        before, "SN-GAN", 4
    )


def test_the_sweep_loads_each_sn_gan_once_and_sweeps_each_acceleration_to_its_own(tiny_setup, tmp_path):
    from recon_lib.evaluation.sweep import load_end_points, load_end_points_by_acceleration

    root, ckpt = tiny_setup
    folder = _with_af8_sn_gan(ckpt, tmp_path / "ckpt")
    ends = load_end_points_by_acceleration(folder, accelerations=(4, 8))
    assert {af: p.name for af, p in ends.files.items()} == {4: "sn_gan.pt", 8: "sn_gan_af8.pt"}
    assert ends.checkpoints() == {"4": str(folder / "sn_gan.pt"), "8": str(folder / "sn_gan_af8.pt")}
    shared = load_end_points_by_acceleration(ckpt, accelerations=(4, 8))
    assert shared.gans[4] is shared.gans[8]  # one file, loaded once, one model
    records = evaluate.alpha_sweep(root / "test", ends.sn, ends.gans, alphas=(0.0, 1.0), progress=False)
    by = {(r["acceleration"], r["mode"], r["alpha"]): r["psnr"] for r in records}
    assert by[(8, "network", 1.0)] == by[(8, "network", 0.0)] == by[(8, "image", 1.0)]
    assert by[(4, "network", 1.0)] != by[(4, "network", 0.0)]
    old = evaluate.alpha_sweep(
        root / "test", shared.sn, shared.gans[4], alphas=(1.0,), accelerations=(4,), progress=False
    )
    assert {r["mode"]: r["psnr"] for r in old} == {m: by[(4, m, 1.0)] for m in ("network", "image")}
    # one acceleration: load_end_points picks its SN-GAN; None keeps sn_gan.pt
    sn, gan = load_end_points(folder, acceleration=8)
    assert all(torch.equal(a, b) for a, b in zip(sn.state_dict().values(), gan.state_dict().values(), strict=True))
    _, gan = load_end_points(folder)
    assert torch.equal(next(iter(gan.state_dict().values())), next(iter(shared.gans[4].state_dict().values())))
    with pytest.raises(ValueError, match="no SN-GAN given for AF 4"):
        evaluate.alpha_sweep_rows(root / "test", ends.sn, {8: ends.gans[8]}, accelerations=(4, 8))
    per_af = {af: [ends.sn, gan] for af, gan in ends.gans.items()}
    rows = evaluate.schedule_scores(root / "test", per_af, {"SN-GAN": [0.0, 1.0]}, accelerations=(4, 8))
    assert {r["acceleration"]: r["psnr"] for r in evaluate.summarise_sweep(rows)} == {
        af: by[(af, "network", 1.0)] for af in (4, 8)
    }


def test_a_bad_per_acceleration_sn_gan_is_one_error_naming_its_file(tiny_setup, tmp_path):
    from recon_lib.evaluation.sweep import load_end_points_by_acceleration
    from recon_lib.models.checkpoint import CheckpointError

    root, ckpt = tiny_setup
    wide = _with_af8_sn_gan(ckpt, tmp_path / "wide", model=SensitivityNetwork(num_cascades=1, features=6))
    with pytest.raises(CheckpointError, match=r"sn_gan_af8\.pt cannot be interpolated with .*sn_finetuned\.pt"):
        load_end_points_by_acceleration(wide, accelerations=(4, 8))
    with pytest.raises(CheckpointError, match=r"sn_gan_af8\.pt cannot be interpolated with .*sn_finetuned\.pt"):
        evaluate.standard_methods(wide, accelerations=(4, 8))
    load_end_points_by_acceleration(wide, accelerations=(4,))  # AF 4 alone never opens it
    untrained = _with_af8_sn_gan(ckpt, tmp_path / "af4only", accelerations=[4])
    with pytest.raises(CheckpointError, match=r"sn_gan_af8\.pt was trained for acceleration\(s\) 4, not for 8"):
        load_end_points_by_acceleration(untrained, accelerations=(8,))
    other = _with_af8_sn_gan(ckpt, tmp_path / "other", shipped_for=4)
    with pytest.raises(CheckpointError, match=r"sn_gan_af8\.pt records shipped_for 4"):
        load_end_points_by_acceleration(other, accelerations=(4, 8))


def test_the_commands_record_the_sn_gan_file_of_each_acceleration(tiny_setup, tmp_path, capsys):
    from recon_lib.evaluation import alpha_validation, shared_init

    root, ckpt = tiny_setup
    folder = _with_af8_sn_gan(ckpt, tmp_path / "ckpt")
    files = {"4": str(folder / "sn_gan.pt"), "8": str(folder / "sn_gan_af8.pt")}
    common = ["--data", str(root), "--checkpoints", str(folder), "--accelerations", "4", "8"]
    fast = ["--bootstrap-reps", "100", "--no-progress"]
    out = tmp_path / "evaluation"
    argv = [*common, *fast, "--out", str(out), "--cg-iters", "2", "--l1-fraction", "none", "--mask-seeds", "1"]
    assert evaluate.main(argv) == 0
    assert json.loads((out / "timing.json").read_text())["sn_gan_checkpoints"] == files
    table = json.loads((out / "table1.json").read_text())
    assert {r["acceleration"]: r["sn_gan_checkpoint"] for r in table["sn_gan_checkpoints"]} == {
        4: files["4"],
        8: files["8"],
    }
    summary = {(r["method"], r["acceleration"]): r["psnr_mean"] for r in table["summary"] if r["acquisition"] == "PD"}
    assert summary[("SN-GAN", 8)] == summary[("SN", 8)] != summary[("SN-GAN", 4)]
    sweep = json.loads((out / "alpha_sweep.json").read_text())
    assert {(r["acceleration"], r["sn_gan_checkpoint"]) for r in sweep} == {(4, files["4"]), (8, files["8"])}
    by = {(r["acceleration"], r["mode"], r["alpha"]): r["psnr"] for r in sweep}
    assert by[(8, "network", 1.0)] == by[(8, "network", 0.0)] and by[(4, "network", 1.0)] != by[(4, "network", 0.0)]
    versus = json.loads((out / "network_vs_blend.json").read_text())
    assert {r["sn_gan_checkpoint"] for r in versus if r["acceleration"] == 8} == {files["8"]}
    for name in ("table1.md", "network_vs_blend.md"):
        assert f"AF 4: `{files['4']}`; AF 8: `{files['8']}`" in (out / name).read_text()

    out = tmp_path / "alpha_validation"
    assert alpha_validation.main([*common, "--out", str(out), "--alphas", "0", "1"]) == 0
    document = json.loads((out / alpha_validation.FILE).read_text())
    assert document["checkpoints"]["sn_gan"] == files
    by = {(r["acceleration"], r["alpha"]): r for r in document["records"] if r["mode"] == "network"}
    assert by[(8, 1.0)]["psnr"] == by[(8, 0.0)]["psnr"] and by[(8, 1.0)]["sn_gan_checkpoint"] == files["8"]

    out = tmp_path / "shared_init"
    unrelated = ["--unrelated", str(folder / "sn_pretrained.pt"), "--alphas", "0", "0.5", "1"]
    assert shared_init.main([*common, *fast, *unrelated, "--out", str(out)]) == 0
    document = json.loads((out / "shared_init.json").read_text())
    assert document["sn_gan_checkpoints"] == files
    ends = {
        (r["acceleration"], r["alpha"]): r["psnr"]
        for r in document["pairs"]["shared"]["records"]
        if r["mode"] == "network"
    }
    assert ends[(8, 1.0)] == ends[(8, 0.0)] != ends[(4, 1.0)]
    assert f"AF 8: `{files['8']}`" in (out / "shared_init.md").read_text()

    wide = _with_af8_sn_gan(ckpt, tmp_path / "wide", model=SensitivityNetwork(num_cascades=1, features=6))
    capsys.readouterr()
    argv = ["--data", str(root), "--checkpoints", str(wide), "--out", str(tmp_path / "bad"), "--no-sweep"]
    assert evaluate.main([*argv, "--cg-iters", "2", "--l1-fraction", "none"]) == 2
    assert "sn_gan_af8.pt cannot be interpolated with" in capsys.readouterr().err
