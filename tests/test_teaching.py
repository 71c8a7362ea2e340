"""Tests of recon_lib.teaching.notebook: the notebook helpers load the right slice and never touch checkpoints/."""

from pathlib import Path

import pytest
import torch

from recon_lib.models.stages import PRETRAIN
from recon_lib.teaching import notebook as teaching
from recon_lib.teaching import suite


def test_live_config_writes_only_to_the_scratch_folder(tmp_path: Path) -> None:
    init = tmp_path / "init"
    init.mkdir()
    (init / PRETRAIN.checkpoint_name()).write_bytes(b"weights")
    cfg = teaching.live_config("finetune_gan", steps=3, workdir=tmp_path / "work", init_from=init, features=4)
    assert Path(cfg.checkpoint_dir) == tmp_path / "work" / "checkpoints"
    assert Path(cfg.output_dir).is_relative_to(tmp_path / "work")
    assert (Path(cfg.checkpoint_dir) / PRETRAIN.checkpoint_name()).read_bytes() == b"weights"
    assert cfg.stages["finetune_gan"].max_steps_per_epoch == 3 and cfg.stages["finetune_gan"].epochs == 1
    assert cfg.sn["features"] == 4 and cfg.data.max_val_volumes == 1


@pytest.mark.parametrize("steps", [4, 40])
def test_a_live_gan_run_fits_the_shipped_schedule_into_its_steps(tmp_path: Path, steps: int) -> None:
    """The teaching config's 120-step warm-up and snapshots do not fit a live run: the warm-up takes at
    most a quarter of it, the generator still moves, and no snapshots are kept."""
    from recon_lib.training.steps import generator_moves

    cfg = teaching.live_config("finetune_gan", steps=steps, config="teaching", workdir=tmp_path)
    st = cfg.stages["finetune_gan"]
    assert st.d_warmup_steps == steps // 4 and st.snapshot_every is None
    assert any(generator_moves(st, k) for k in range(steps))
    given = teaching.live_config(
        "finetune_gan", steps=steps, config="teaching", workdir=tmp_path / "b", settings={"d_warmup_steps": 1}
    )
    assert given.stages["finetune_gan"].d_warmup_steps == 1  # a setting the caller gives is kept


@pytest.mark.parametrize("steps", [0, -1, 2.5, True])
def test_live_config_rejects_bad_steps(steps: object, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="steps"):
        teaching.live_config("pretrain", steps=steps, workdir=tmp_path)  # type: ignore[arg-type]


def test_load_slice_is_the_middle_slice_with_a_batch_of_one() -> None:
    root = suite.data_dir()
    if not (root / "test").is_dir():
        pytest.fail(f"test data missing at {root} (run make data)")
    batch = teaching.load_slice(acceleration=8, volume=0)
    assert batch["kspace"].dtype == torch.complex64 and batch["kspace"].shape[0] == 1
    assert batch["target"].ndim == 3 and batch["target"].shape[0] == 1
    kept = float(batch["mask"].mean())
    assert 0.08 < kept < 0.2  # AF 8: about 1/8 of the columns
    again = teaching.load_slice(acceleration=8, volume=0)
    assert torch.equal(batch["mask"], again["mask"])  # fixed, file-name-seeded mask


def test_load_slice_rejects_a_bad_split() -> None:
    with pytest.raises(ValueError, match="split"):
        teaching.load_slice(split="training")


def test_show_widget_puts_the_widget_and_its_picture_in_one_output(monkeypatch) -> None:
    """A live front end renders the widget; a static page falls back to the PNG, never to VBox(children=...)."""
    import ipywidgets
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append((obj, raw)))
    widget = ipywidgets.VBox([ipywidgets.HTML("hi")])
    figure = plt.figure(figsize=(1, 1))
    teaching.show_widget(widget, figure)
    ((bundle, raw),) = shown
    assert raw and bundle[teaching.WIDGET_VIEW]["model_id"] == widget.model_id
    assert bundle["image/png"].startswith("iVBOR") and "VBox" not in bundle["text/plain"]
    assert not plt.fignum_exists(figure.number), "the figure is closed, so it is not shown twice"
    with pytest.raises(TypeError, match="PNG bytes"):
        teaching.show_widget(widget, b"not a png")
    with pytest.raises(TypeError, match="ipywidgets widget"):
        teaching.show_widget(object(), b"\x89PNG")


SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def _sn_as_sn_gan_of(folder: Path, acceleration: int) -> Path:
    """``folder`` with the shipped SN and SN-GAN, and an SN-GAN of ``acceleration``'s own holding the
    shipped SN's weights (stage finetune_gan), as ``ship_per_acceleration`` would name it."""
    import shutil

    from recon_lib.models.checkpoint import load_model, save_checkpoint
    from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN

    folder.mkdir()
    for stage in (FINETUNE_SN, FINETUNE_GAN):
        shutil.copyfile(stage.checkpoint_path(SHIPPED), stage.checkpoint_path(folder))
    sn, meta = load_model(FINETUNE_SN.checkpoint_path(SHIPPED))
    own = meta | {"stage": "finetune_gan", "accelerations": [4, 8], "shipped_for": acceleration}
    save_checkpoint(FINETUNE_GAN.checkpoint_path(folder, acceleration), sn, own)
    return folder


@pytest.mark.skipif(
    not ((SHIPPED / "sn_gan.pt").is_file() and (suite.data_dir() / "val").is_dir()),
    reason="needs make data and the shipped checkpoints",
)
def test_gan_outcome_starts_from_and_scores_the_sn_gan_of_its_acceleration(tmp_path: Path, monkeypatch) -> None:
    """With an SN-GAN of AF 4's own (the SN's weights), at AF 4 the shipped SN-GAN (and zero more
    steps from it) scores as the SN; at AF 8 the shared sn_gan.pt does not."""
    folder = _sn_as_sn_gan_of(tmp_path / "ckpt", 4)
    monkeypatch.setattr(suite, "checkpoint_dir", lambda: folder)
    at4 = teaching.gan_outcome({"steps": 0}, slices=1, acceleration=4)
    assert at4["psnr_gan"] == at4["psnr_sn"] == at4["psnr_longer"] and at4["hf_gan"] == at4["hf_sn"]
    at8 = teaching.gan_outcome({"steps": 0}, slices=1, acceleration=8)
    assert at8["psnr_gan"] == at8["psnr_longer"] != at8["psnr_sn"]
