"""Issue 26, the rest: texture inside the PD bone marrow of the stored tissue labels, Table 1's
perception columns (``table1_perception.md``), and the SN-GAN shipped per acceleration.

No critic is trained here: the Table 1 renderer is fed a small synthetic results dict.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from recon_lib.data.dataset import KneeDataset
from recon_lib.data.volumes import iter_volumes
from recon_lib.evaluation.perception import (
    NOISE_CONTROL,
    REFERENCE,
    marrow_coverage,
    marrow_mask,
    perception_markdown,
    perception_methods,
    table1_perception,
    table1_perception_markdown,
    texture_scores,
)
from recon_lib.metrics.texture import interior, local_std_ratio, region_texture_ratios
from recon_lib.models.checkpoint import load_checkpoint, load_role_model, save_checkpoint
from recon_lib.models.inference import reconstruct
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN, UNET
from recon_lib.physics.masks import MaskFunc

DATA = "data/knee"
CHECKPOINTS = "checkpoints"


@pytest.fixture(scope="module")
def pd_marrow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The noise-free image, the marrow of the stored labels and the foreground of the first
    validation volume (PD)."""
    ds = KneeDataset(f"{DATA}/val", MaskFunc([4]))
    record = ds.volumes[0]
    assert record.acquisition == "CORPD_FBK"
    truth = ds.noise_free(0)
    assert truth is not None
    marrow = marrow_mask(record.raw, truth.shape)
    assert marrow is not None
    info, _ = next(iter(iter_volumes(f"{DATA}/val", 4, 1)))
    return truth.astype(np.float64), marrow, info["foreground"]


def _blur(volume: np.ndarray) -> np.ndarray:
    return ndimage.gaussian_filter(volume, (0, 1.0, 1.0))


def _noisy(volume: np.ndarray, seed: int = 0) -> np.ndarray:
    return volume + np.random.default_rng(seed).normal(0, 0.05 * volume.max(), volume.shape)


# ---- texture inside the marrow --------------------------------------------------------------------
def test_the_stored_labels_give_a_marrow_in_the_central_slices_only(pd_marrow):
    truth, marrow, _ = pd_marrow
    per_slice = interior(marrow).sum(axis=(1, 2))
    assert per_slice.sum() > 5000
    assert per_slice[0] == 0 and per_slice[len(per_slice) // 2] > 1000  # the edge slices miss the bones
    assert truth[marrow].mean() > truth[truth > 0].mean()  # fatty marrow is bright in PD


def test_each_marrow_statistic_is_one_for_the_truth_below_one_blurred_above_one_noisy(pd_marrow):
    truth, marrow, _ = pd_marrow
    same = region_texture_ratios(truth, truth, marrow)
    blurred = region_texture_ratios(truth, _blur(truth), marrow)
    noisy = region_texture_ratios(truth, _noisy(truth), marrow)
    assert set(same) == set(blurred) == set(noisy) == {"local_std", "log_energy"}
    for stat in same:
        assert same[stat] == pytest.approx(1.0, abs=1e-12), stat
        assert blurred[stat] < 0.9, (stat, blurred[stat])
        assert noisy[stat] > 1.1, (stat, noisy[stat])


def test_the_marrow_statistics_measure_inside_the_marrow_not_its_edges(pd_marrow):
    """Blurring only outside the marrow's interior leaves the marrow's local std as it was."""
    truth, marrow, _ = pd_marrow
    inside = interior(marrow)
    outside_blurred = np.where(ndimage.binary_dilation(inside, np.ones((1, 5, 5), bool)), truth, _blur(truth))
    assert region_texture_ratios(truth, outside_blurred, marrow)["local_std"] == pytest.approx(1.0, abs=1e-12)
    assert abs(local_std_ratio(truth, outside_blurred, mask=marrow) - 1) > 1e-3  # the raw mask's edge boxes see it


def test_interior_keeps_the_pixels_whose_box_fits_and_never_crosses_slices():
    mask = np.zeros((3, 12, 12), bool)
    mask[0, 2:9, 2:9] = True  # 7 x 7: a 3 x 3 interior
    mask[2] = True  # slice 1 is empty: a box reaching across slices would erode both neighbours away
    inner = interior(mask)
    assert inner[0].sum() == 9 and inner[0, 4:7, 4:7].all()
    assert inner[1].sum() == 0
    assert inner[2].sum() == 8 * 8  # the image border counts as outside
    assert np.array_equal(interior(mask, 0), mask)
    assert np.array_equal(interior(mask[0]), inner[0])  # one slice as (H, W)
    with pytest.raises(ValueError, match="margin"):
        interior(mask, -1)
    small = np.zeros((3, 12, 12), bool)
    small[:, 3:7, 3:7] = True  # 4 x 4: no 5 x 5 box fits
    with pytest.raises(ValueError, match="no pixel"):
        region_texture_ratios(np.ones((3, 12, 12)), np.ones((3, 12, 12)), small)


# ---- perception's texture scores, per contrast and per region ---------------------------------------
def _synthetic_volumes() -> list[dict]:
    """Three small volumes: PD with labels, PDFS with labels, PD without (simulator 1), each with a
    blurred ("Smooth") and a noisy ("Noisy") reconstruction."""
    rng = np.random.default_rng(0)
    volumes = []
    for k, (acquisition, labelled) in enumerate((("CORPD_FBK", True), ("CORPDFS_FBK", True), ("CORPD_FBK", False))):
        truth = ndimage.gaussian_filter(rng.random((2, 40, 40)), (0, 0.7, 0.7)) + 1.0
        foreground = np.zeros(truth.shape, bool)
        foreground[:, 4:36, 4:36] = True
        marrow = np.zeros(truth.shape, bool)
        marrow[0, 10:24, 10:26] = True  # one slice holds marrow, the other none
        volumes.append(
            {
                "fname": f"v{k}.h5",
                "acquisition": acquisition,
                "target": _noisy(truth, seed=10 + k),
                "foreground": foreground,
                "noise_free": truth,
                "marrow": marrow if labelled else None,
                "recons": {"Smooth": _blur(truth), "Noisy": _noisy(truth, seed=k)},
            }
        )
    return volumes


def test_marrow_statistics_cover_the_pd_volumes_and_fall_back_to_the_foreground_without_labels():
    volumes = _synthetic_volumes()
    scores = texture_scores(volumes, ["Smooth", "Noisy"])
    assert list(scores) == [REFERENCE, "Smooth", "Noisy"]
    smooth = scores["Smooth"]
    assert {"marrow_local_std", "marrow_log_energy", "local_std", "hf_energy"} <= set(smooth)
    assert set(smooth["marrow_local_std"]["volumes"]) == {"v0.h5", "v2.h5"}  # PD only
    assert set(smooth["local_std"]["volumes"]) == {"v0.h5", "v1.h5", "v2.h5"}
    assert set(smooth["hf_energy"]["by_contrast"]) == {"PD", "PDFS"}
    pd_values = [smooth["hf_energy"]["volumes"][f] for f in ("v0.h5", "v2.h5")]
    assert smooth["hf_energy"]["by_contrast"]["PD"]["mean"] == pytest.approx(np.mean(pd_values))
    assert smooth["marrow_local_std"]["mean"] < 1 < scores["Noisy"]["marrow_local_std"]["mean"]
    labelled = region_texture_ratios(volumes[0]["noise_free"], volumes[0]["recons"]["Smooth"], volumes[0]["marrow"])
    assert smooth["marrow_local_std"]["volumes"]["v0.h5"] == pytest.approx(labelled["local_std"])
    fallback = region_texture_ratios(volumes[2]["noise_free"], volumes[2]["recons"]["Smooth"], volumes[2]["foreground"])
    assert smooth["marrow_local_std"]["volumes"]["v2.h5"] == pytest.approx(fallback["local_std"])

    coverage = marrow_coverage(volumes)
    assert {f: e["source"] for f, e in coverage["volumes"].items()} == {"v0.h5": "labels", "v2.h5": "foreground"}
    assert coverage["volumes"]["v0.h5"]["pixels"] == 10 * 12  # 14 x 16 less 2 pixels all round
    assert "else the foreground" in coverage["region"]
    assert marrow_coverage(volumes[:2])["region"] == "PD bone marrow (stored tissue labels)"


# ---- Table 1's perception columns ------------------------------------------------------------------
METHODS = ["Zero-filled", "CG-SENSE", "U-Net", "SN", "SN-GAN", "interpSN (α=0.5)"]


def _results() -> dict:
    """A perception results dict at one acceleration: synthetic critic numbers, real texture scores
    of the synthetic volumes (every method the blurred image, the noise control the noisy one)."""
    volumes = _synthetic_volumes()
    for v in volumes:
        v["recons"] = {name: v["recons"]["Smooth"] for name in METHODS} | {NOISE_CONTROL: v["recons"]["Noisy"]}
    names = [*METHODS, NOISE_CONTROL]
    critic = {
        name: {"mean": 0.6 + 0.05 * i, "low": 0.55 + 0.05 * i, "high": 0.65 + 0.05 * i, "runs": []}
        for i, name in enumerate(names)
    }
    result = {
        "sn_gan_checkpoint": "checkpoints/sn_gan.pt",
        "volumes": [v["fname"] for v in volumes],
        "sn_detected": True,
        "critic": critic,
        "texture": texture_scores(volumes, names),
        "marrow": marrow_coverage(volumes[:2]),
    }
    settings = {"test_volumes": 3, "folds": 3, "seeds": [0, 1]}
    return {"settings": settings, "validation": {"4": critic["SN"]}, "accelerations": {"4": result}}


def _table1(methods=METHODS, volumes=("v0.h5", "v1.h5", "v2.h5")) -> dict:
    summary = [
        {
            "acquisition": acq,
            "acceleration": 4,
            "method": m,
            "psnr_mean": 30.0 + i + (acq == "PD"),
            "psnr_std": 0.5,
            "ssim_mean": 0.8 + 0.01 * i,
            "ssim_std": 0.01,
        }
        for i, m in enumerate(methods)
        for acq in ("PD", "ALL")
    ]
    rows = [
        {"acceleration": 4, "method": m, "volume": v, "mask_seed": s} for m in methods for v in volumes for s in (0, 1)
    ]
    return {"metrics": ["psnr", "ssim"], "rows": rows, "summary": summary}


def test_table1_perception_sets_table1s_fidelity_beside_the_critic_and_the_texture():
    results = _results()
    table = table1_perception(results, _table1(), "docs/results/evaluation/table1.json")
    assert table["fidelity"] and table["fidelity_note"] == "" and table["table1_masks"] == 2
    recorded = _table1() | {"sn_gan_checkpoints": [{"acceleration": 4, "sn_gan_checkpoint": "elsewhere/sn_gan.pt"}]}
    assert table1_perception(results, recorded, "t.json")["fidelity"]  # the same file, by name
    rows = table["accelerations"]["4"]
    assert [r["method"] for r in rows] == [*METHODS, NOISE_CONTROL]
    sn = rows[METHODS.index("SN")]
    assert sn["psnr"] == {"mean": 33.0, "std": 0.5}  # the pooled (ALL) row, not the PD one
    assert sn["critic"] == {"mean": 0.75, "low": pytest.approx(0.7), "high": 0.8}
    texture = results["accelerations"]["4"]["texture"]["SN"]
    assert sn["hf_energy_pd"]["mean"] == texture["hf_energy"]["by_contrast"]["PD"]["mean"]
    assert sn["band_0.25-0.50_pd"]["mean"] == texture["band_0.25-0.50"]["by_contrast"]["PD"]["mean"]
    assert sn["marrow_local_std"]["mean"] == texture["marrow_local_std"]["mean"] < 1
    assert rows[-1]["psnr"] is None and rows[-1]["marrow_local_std"]["mean"] > 1

    markdown = table1_perception_markdown(table)
    assert "`docs/results/evaluation/table1.json`" in markdown and "## AF 4" in markdown
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| method | PSNR (dB) | SSIM | critic accuracy | HF ratio vs truth (PD) |")
    assert len(lines) == 2 + 7
    assert lines[2 + METHODS.index("SN")].startswith("| SN | 33.00 ± 0.50 | 0.8300 ± 0.0100 | 0.750 [0.700, 0.800] |")
    assert lines[-1].startswith(f"| {NOISE_CONTROL} | — | — | 0.900 [0.850, 0.950] |")
    assert "PD bone marrow (stored tissue labels)" in markdown


@pytest.mark.parametrize(
    ("table1", "why"),
    [
        (None, "does not exist"),
        (_table1(methods=[m for m in METHODS if m != "CG-SENSE"]), "holds no CG-SENSE at AF 4"),
        (_table1(volumes=("v0.h5", "v1.h5")), "other test volumes"),
        ({"rows": []}, "not a Table 1 this version reads"),
        (
            _table1() | {"sn_gan_checkpoints": [{"acceleration": 4, "sn_gan_checkpoint": "checkpoints/sn_gan_af4.pt"}]},
            "scored the SN-GAN of `sn_gan_af4.pt` at AF 4, this run that of `sn_gan.pt`",
        ),
    ],
)
def test_table1_perception_leaves_the_fidelity_columns_out_and_says_why(table1, why):
    table = table1_perception(_results(), table1, "elsewhere/table1.json")
    assert not table["fidelity"] and why in table["fidelity_note"]
    assert all("psnr" not in row for row in table["accelerations"]["4"])
    markdown = table1_perception_markdown(table)
    assert "No fidelity columns: `elsewhere/table1.json`" in markdown and why in markdown
    assert "| method | critic accuracy | HF ratio vs truth (PD) |" in markdown


def test_without_a_truth_table1_perception_keeps_the_critic_alone():
    results = _results()
    results["accelerations"]["4"]["texture"] = {}
    del results["accelerations"]["4"]["marrow"]
    markdown = table1_perception_markdown(table1_perception(results, _table1(), "t.json"))
    assert "| method | PSNR (dB) | SSIM | critic accuracy |\n" in markdown
    assert "No texture columns" in markdown


def test_perception_md_has_the_marrow_columns_and_says_where_they_were_measured():
    markdown = perception_markdown(_results())
    assert "PD marrow local_std | PD marrow log_energy |" in markdown
    assert "inside the bone marrow of the simulator's stored tissue labels" in markdown
    assert "no tissue labels are stored yet" not in markdown
    assert "SN-GAN: `sn_gan.pt`" in markdown


# ---- the SN-GAN per acceleration -------------------------------------------------------------------
def test_perception_methods_load_the_sn_gan_shipped_for_an_acceleration(tmp_path):
    for stage in (UNET, FINETUNE_SN, FINETUNE_GAN):
        (tmp_path / stage.checkpoint_name()).symlink_to(stage.checkpoint_path(CHECKPOINTS).resolve())
    shared, metadata = load_role_model(FINETUNE_GAN.checkpoint_path(CHECKPOINTS), "sn_gan")
    own = load_role_model(FINETUNE_GAN.checkpoint_path(CHECKPOINTS), "sn_gan")[0]
    with torch.no_grad():
        for p in own.parameters():
            p.mul_(0.9)
    save_checkpoint(FINETUNE_GAN.checkpoint_path(tmp_path, 8), own, metadata | {"accelerations": [8]})
    assert load_checkpoint(FINETUNE_GAN.checkpoint_path(tmp_path, 8))["metadata"]["accelerations"] == [8]

    _, batches = next(iter(iter_volumes(f"{DATA}/val", 8, 1)))
    batch = {k: v[:1] for k, v in batches[0].items()}
    at8 = perception_methods(tmp_path, acceleration=8)
    assert list(at8) == METHODS
    assert torch.equal(at8["SN-GAN"](batch), reconstruct(own, batch))
    assert not torch.equal(at8["SN-GAN"](batch), reconstruct(shared, batch))
    # interpSN interpolates towards the acceleration's own SN-GAN: at alpha 1 it is that network
    at_one = perception_methods(tmp_path, acceleration=8, alpha=1.0)["interpSN (α=1)"](batch)
    assert torch.allclose(at_one, reconstruct(own, batch), rtol=1e-4, atol=1e-6 * float(at_one.detach().abs().max()))
    assert not torch.equal(at8["interpSN (α=0.5)"](batch), at_one)
    # AF 4 has no file of its own: the shared SN-GAN serves it, as before
    assert torch.equal(perception_methods(tmp_path, acceleration=4)["SN-GAN"](batch), reconstruct(shared, batch))
