"""Training pipeline on a tiny prepared phantom dataset: stages, resume, faults, DDP."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recon_lib.data.phantom.simulate import DEFAULT_SIMULATOR, simulate_volume, write_volume
from recon_lib.data.prepare import prepare_folder
from recon_lib.models import checkpoint as ckpt_mod
from recon_lib.models.checkpoint import CheckpointError, load_checkpoint, load_model
from recon_lib.models.stages import get_stage
from recon_lib.training import steps
from recon_lib.training import trainer as train
from recon_lib.training.config import ConfigError, config_from_dict

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    """One 2-slice PD training volume and one 2-slice PDFS validation volume of the default simulator,
    prepared (batches take each volume's prepared centre fractions: ``MaskFunc([4])``)."""
    root = tmp_path_factory.mktemp("tinyknee")
    write_volume(root / "train" / "knee_t0.h5", simulate_volume(seed=11, acquisition="CORPD_FBK", num_slices=2))
    write_volume(root / "val" / "knee_v0.h5", simulate_volume(seed=12, acquisition="CORPDFS_FBK", num_slices=2))
    prepare_folder(root)
    return root


def tiny_config(data: Path, out: Path, **stage_overrides):
    stages = {
        "pretrain": {"epochs": 2, "max_steps_per_epoch": 2, "checkpoint_every": 1},
        "finetune_sn": {"epochs": 1, "max_steps_per_epoch": 1},
        "finetune_gan": {"epochs": 1, "max_steps_per_epoch": 2},
        "unet": {"epochs": 1, "max_steps_per_epoch": 2},
    }
    for k, v in stage_overrides.items():
        stages[k] |= v
    return config_from_dict(
        {
            "seed": 3,
            "threads": 1,
            "device": "cpu",
            "output_dir": str(out / "run"),
            "checkpoint_dir": str(out / "ckpt"),
            "data": {"root": str(data)},
            "sn": {"num_cascades": 1, "features": 4},
            "unet": {"chans": 4, "num_pool_layers": 2},
            "discriminator": {"features": 4, "num_stages": 2},
            "stages": stages,
        }
    )


def test_full_pipeline_writes_loadable_checkpoints_with_metadata(tiny_data, tmp_path):
    cfg = tiny_config(tiny_data, tmp_path)
    paths = train.run_pipeline(cfg, progress=False)
    assert set(paths) == {"pretrain", "finetune_sn", "finetune_gan", "unet"}
    for stage, path in paths.items():
        raw = torch.load(path, weights_only=True)  # no code is unpickled
        meta = raw["metadata"]
        assert meta["stage"] == stage and meta["data_seed"] == 3 and "git_commit" in meta and "command" in meta
        assert set(meta["val"]) == {"nmse", "psnr", "ssim"} and meta["wall_time_s"] >= 0
        model, _ = load_model(path)
        assert type(model).__name__ == raw["model_class"]
    # both fine-tuned models start from the pre-trained weights: their first logged step is the same input
    sn, _ = load_model(paths["finetune_sn"])
    gan, _ = load_model(paths["finetune_gan"])
    pre, _ = load_model(paths["pretrain"])
    assert sn.config == gan.config == pre.config
    # a second run skips every finished stage (no file rewritten)
    mtimes = {p: p.stat().st_mtime_ns for p in paths.values()}
    train.run_pipeline(cfg, progress=False)
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == mtimes


def kill_after(monkeypatch, steps_done: int) -> None:
    """Simulate a Ctrl-C / kill just before step ``steps_done + 1`` of the next run."""
    real_step = train.training_step
    calls = {"n": 0}

    def step(*args, **kwargs):
        if calls["n"] == steps_done:
            raise KeyboardInterrupt(f"simulated interruption after {steps_done} steps")
        calls["n"] += 1
        return real_step(*args, **kwargs)

    monkeypatch.setattr(train, "training_step", step)


def test_interrupted_and_resumed_run_ends_with_identical_weights(tiny_data, tmp_path, monkeypatch):
    straight = train.run_stage(tiny_config(tiny_data, tmp_path / "a"), "pretrain", progress=False)
    cfg_b = tiny_config(tiny_data, tmp_path / "b")
    with monkeypatch.context() as patch:
        kill_after(patch, 3)  # killed mid-epoch 2
        with pytest.raises(KeyboardInterrupt):
            train.run_stage(cfg_b, "pretrain", progress=False)
    assert (tmp_path / "b" / "run" / "pretrain" / "last.pt").exists()
    resumed = train.run_stage(cfg_b, "pretrain", progress=False)
    a, b = load_checkpoint(straight)["state_dict"], load_checkpoint(resumed)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{key} differs after resume"
    log = (tmp_path / "b" / "run" / "pretrain" / "log.jsonl").read_text().splitlines()
    steps = [int(line.split('"step": ')[1].split(",")[0].rstrip("}")) for line in log if '"type"' not in line]
    assert steps == sorted(set(steps)) == [1, 2, 3, 4]  # replayed steps are not logged twice


def test_cosine_schedule_is_logged_per_step_and_survives_a_resume(tiny_data, tmp_path, monkeypatch):
    """lr_schedule: cosine -- the logged lr follows lr/2 (1 + cos(pi t / T)) and an interrupted run
    resumes on the same schedule, ending with the straight run's weights."""
    cosine = {"lr": 1e-3, "lr_schedule": "cosine"}
    straight = train.run_stage(tiny_config(tiny_data, tmp_path / "a", pretrain=cosine), "pretrain", progress=False)
    cfg_b = tiny_config(tiny_data, tmp_path / "b", pretrain=cosine)
    with monkeypatch.context() as patch:
        kill_after(patch, 3)
        with pytest.raises(KeyboardInterrupt):
            train.run_stage(cfg_b, "pretrain", progress=False)
    resumed = train.run_stage(cfg_b, "pretrain", progress=False)
    a, b = load_checkpoint(straight)["state_dict"], load_checkpoint(resumed)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = [json.loads(x) for x in (tmp_path / "b" / "run" / "pretrain" / "log.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in rows if "lr" in r]
    expected = [1e-3 * 0.5 * (1 + math.cos(math.pi * t / 4)) for t in range(4)]  # 2 epochs x 2 steps
    assert lrs == pytest.approx(expected, rel=1e-9)
    constant = tiny_config(tiny_data, tmp_path / "c").stages["pretrain"]
    assert steps.stage_learning_rate(constant, 3, 4) == constant.lr


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_data, tmp_path)
    real_loss = steps.sn_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        value = real_loss(*args, **kwargs)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(steps, "sn_loss", flaky)
    with pytest.raises(train.TrainingError, match="non-finite loss .* step 3.*last good checkpoint"):
        train.run_stage(cfg, "pretrain", progress=False)
    last = load_checkpoint(tmp_path / "run" / "pretrain" / "last.pt")
    assert last["metadata"]["step"] == 2
    assert all(torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point())
    assert not (tmp_path / "ckpt" / "sn_pretrained.pt").exists()


def test_disk_full_during_save_keeps_previous_checkpoint(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_data, tmp_path)
    real_save = torch.save
    calls = {"n": 0}

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            with open(f, "wb") as fh:
                fh.write(b"partial")  # a half-written file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt_mod.torch, "save", save)
    with pytest.raises(OSError, match="No space left"):
        train.run_stage(cfg, "pretrain", progress=False)
    folder = tmp_path / "run" / "pretrain"
    assert load_checkpoint(folder / "last.pt")["metadata"]["step"] == 1  # the first save survives intact
    assert sorted(p.name for p in folder.iterdir()) == ["last.pt", "log.jsonl"]  # no temp file left behind


def test_resume_from_another_architecture_is_refused(tiny_data, tmp_path, monkeypatch):
    cfg = tiny_config(tiny_data, tmp_path)
    with monkeypatch.context() as patch:
        kill_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            train.run_stage(cfg, "pretrain", progress=False)
    wider = tiny_config(tiny_data, tmp_path)
    wider.sn = {"num_cascades": 1, "features": 8}
    with pytest.raises(CheckpointError, match="other settings"):
        train.run_stage(wider, "pretrain", progress=False)


def test_best_val_holds_the_best_epoch_and_the_final_weights_are_the_last_epochs(tiny_data, tmp_path, monkeypatch):
    scores = iter([{"nmse": 0.2, "psnr": 20.0, "ssim": 0.5}, {"nmse": 0.3, "psnr": 18.0, "ssim": 0.4}])
    monkeypatch.setattr(train, "validate", lambda *args: next(scores))  # epoch 2 validates worse than epoch 1
    meta = load_checkpoint(train.run_stage(tiny_config(tiny_data, tmp_path), "pretrain", progress=False))["metadata"]
    assert meta["val"]["psnr"] == 18.0 and meta["epoch"] == 2  # the weights saved are the last epoch's
    assert meta["best_val"] == {"nmse": 0.2, "psnr": 20.0, "ssim": 0.5, "epoch": 1}
    from recon_lib.data.integrity import PREPARE_VERSION
    from recon_lib.data.provenance import dataset_record

    # the data trained on, for the evaluation and the explorers to compare (issue 27)
    expected = {"source": "simulated", "simulator": DEFAULT_SIMULATOR, "prepare_version": PREPARE_VERSION}
    assert meta["dataset"] == dataset_record(tiny_data) == expected


def test_gan_step_uses_the_library_generator_loss_and_moves_both_networks(tiny_data):
    from recon_lib.data.dataset import KneeDataset
    from recon_lib.metrics.losses import lsgan_generator_loss, masked_magnitude, sn_gan_generator_loss
    from recon_lib.models.checkpoint import build_model
    from recon_lib.models.inference import reconstruct
    from recon_lib.physics.masks import MaskFunc

    batch = torch.utils.data.default_collate([KneeDataset(tiny_data / "train", MaskFunc([4]))[0]])
    torch.manual_seed(0)
    model = build_model("SensitivityNetwork", {"num_cascades": 1, "features": 4})
    disc = build_model("PatchDiscriminator", {"features": 4, "num_stages": 2})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d_before = {k: v.clone() for k, v in disc.state_dict().items()}
    learner = steps.Learner(
        model=model,
        optimiser=torch.optim.SGD(model.parameters(), lr=0.0),  # lr 0: the generator loss is computed on these weights
        disc=disc,
        d_optimiser=torch.optim.Adam(disc.parameters(), lr=1e-3),
        gamma=0.1,
    )
    record = steps.training_step(learner, batch)
    assert set(record) == {"loss", "l_sn", "d_loss", "g_adv"}
    assert any(not torch.equal(d_before[k], v) for k, v in disc.state_dict().items())
    # the generator loss is Eq. 2 on the updated discriminator, with the foreground mask and sum-L1
    with torch.no_grad():
        rec = reconstruct(model, batch)
        scale = batch["max"].view(-1, 1, 1, 1)
        d_fake = disc(masked_magnitude(rec, batch["foreground"]) / scale)
        expected = sn_gan_generator_loss(
            rec, batch["target"], d_fake, gamma=0.1, data_range=batch["max"], mask=batch["foreground"]
        )
    assert record["loss"] == pytest.approx(float(expected), rel=1e-5)
    assert record["g_adv"] == pytest.approx(float(lsgan_generator_loss(d_fake)), rel=1e-4)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    learner.optimiser = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    steps.training_step(learner, batch)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_loss_region_is_validated_and_image_loss_sees_the_background(tiny_data):
    with pytest.raises(ConfigError, match="stages.unet.loss_region must be one of 'foreground', 'image', got 'all'"):
        config_from_dict({"stages": {"unet": {"loss_region": "all"}}})
    from recon_lib.data.dataset import KneeDataset
    from recon_lib.physics.masks import MaskFunc

    batch = torch.utils.data.default_collate([KneeDataset(tiny_data / "val", MaskFunc([4]))[0]])
    rec = batch["target"].to(torch.complex64).clone()
    rec[~batch["foreground"]] += batch["max"]  # wrong only in the background
    # the foreground loss sees the error only through SSIM windows that straddle the boundary
    fg_loss = float(steps.reconstruction_loss(rec, batch, region="foreground"))
    assert float(steps.reconstruction_loss(rec, batch, region="image")) > 5 * fg_loss


def test_shipped_sn_checkpoints_still_match_the_teaching_config():
    """Options added to the stages later (loss_region) count as their defaults: `make train` keeps the shipped SNs."""
    import re

    from recon_lib.training.config import load_config

    cfg = load_config(ROOT / "configs" / "teaching.yaml")
    for stage in ("pretrain", "finetune_sn", "finetune_gan"):
        stored = load_checkpoint(get_stage(stage).checkpoint_path(ROOT / "checkpoints"))["metadata"]["settings"]
        assert train._same_settings(stored, train._stage_settings(cfg, stage)), stage
    assert float(re.search(r"lam=([^,]+)", train._training_loss("image")).group(1)) == steps.L1_WEIGHT
    changed = load_config(ROOT / "configs" / "teaching.yaml", {"stages": {"pretrain": {"loss_region": "image"}}})
    pre = load_checkpoint(ROOT / "checkpoints" / "sn_pretrained.pt")["metadata"]["settings"]
    assert not train._same_settings(pre, train._stage_settings(changed, "pretrain"))


def test_loading_a_checkpoint_into_another_architecture_names_the_key(tiny_data, tmp_path):
    path = train.run_stage(tiny_config(tiny_data, tmp_path), "pretrain", progress=False)
    from recon_lib.models.sensitivity_network import SensitivityNetwork

    with pytest.raises(CheckpointError, match="key '.*': the checkpoint has shape"):
        ckpt_mod.load_state_into(
            SensitivityNetwork(num_cascades=1, features=8), load_checkpoint(path)["state_dict"], str(path)
        )
    with pytest.raises(CheckpointError, match="holds a SensitivityNetwork, expected a UNetReconstructor"):
        load_model(path, expected_class="UNetReconstructor")


def test_bad_data_folder_and_cli_errors(tmp_path, capsys):
    cfg = tiny_config(tmp_path / "missing", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        train.run_stage(cfg, "pretrain", progress=False)
    (tmp_path / "empty" / "train").mkdir(parents=True)
    (tmp_path / "empty" / "val").mkdir(parents=True)
    cfg = tiny_config(tmp_path / "empty", tmp_path)
    with pytest.raises((ConfigError, FileNotFoundError), match="prepare"):
        train.run_stage(cfg, "pretrain", progress=False)
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text("sn: {num_cascades: 1}\nlearning_rate: 3\n")
    assert train.main(["--config", str(cfg_file)]) == 2
    assert "unknown config key config.learning_rate" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_process_ddp_training_on_cpu(tiny_data, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or shutil.which("torchrun")
    assert torchrun, "torchrun is installed with torch"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "recon_lib.train",
        "--config",
        str(ROOT / "configs" / "tiny.yaml"),
        "--stage",
        "pretrain",
        "--no-progress",
        "--set",
        f"data.root={tiny_data}",
        "--set",
        f"output_dir={tmp_path / 'run'}",
        "--set",
        f"checkpoint_dir={tmp_path / 'ckpt'}",
        "--set",
        "threads=1",
        "--set",
        "device=cpu",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    meta = load_checkpoint(tmp_path / "ckpt" / "sn_pretrained.pt")["metadata"]
    assert meta["world_size"] == 2 and meta["stage"] == "pretrain"


# ---- the SN-GAN's discriminator: warm-up, d_steps, its held-out check, shipped beside the SN-GAN ------------
def _gan_config(data: Path, out: Path, **gan):
    """``tiny_config`` with a spectrally normalised discriminator and a GAN stage of 3 epochs x 2 steps."""
    settings = {"epochs": 3, "max_steps_per_epoch": 2, "checkpoint_every": 1, "lr_schedule": "cosine"} | gan
    cfg = tiny_config(data, out, finetune_gan=settings)
    cfg.discriminator = {"features": 4, "num_stages": 2, "spectral_norm": True}
    return cfg


@pytest.fixture(scope="module")
def tiny_pretrained(tiny_data, tmp_path_factory) -> Path:
    """A tiny pre-trained SN (the GAN stage's starting point)."""
    out = tmp_path_factory.mktemp("tinypre")
    return train.run_stage(tiny_config(tiny_data, out), "pretrain", progress=False)


def _with_pretrained(cfg, pretrained: Path):
    Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(pretrained, Path(cfg.checkpoint_dir) / pretrained.name)
    return cfg


def test_gan_warmup_and_d_steps_resume_to_the_same_weights_and_ship_the_discriminator(
    tiny_data, tiny_pretrained, tmp_path, monkeypatch
):
    gan = {"d_warmup_steps": 1, "d_steps": 2, "d_lr": 2e-4, "d_betas": [0.0, 0.9]}
    straight = train.run_stage(
        _with_pretrained(_gan_config(tiny_data, tmp_path / "a", **gan), tiny_pretrained), "finetune_gan", progress=False
    )
    cfg_b = _with_pretrained(_gan_config(tiny_data, tmp_path / "b", **gan), tiny_pretrained)
    with monkeypatch.context() as patch:
        kill_after(patch, 3)  # killed in epoch 2, after the warm-up's check
        with pytest.raises(KeyboardInterrupt):
            train.run_stage(cfg_b, "finetune_gan", progress=False)
    resumed = train.run_stage(cfg_b, "finetune_gan", progress=False)
    a, b = load_checkpoint(straight), load_checkpoint(resumed)
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), f"{key} differs after resume"
    assert a["discriminator"]["model_config"] == cfg_b.discriminator | {"kernel_size": 3}
    for key in a["discriminator"]["state_dict"]:  # the power iteration's vectors (_u, _v) included
        assert torch.equal(a["discriminator"]["state_dict"][key], b["discriminator"]["state_dict"][key]), key
    assert a["metadata"]["d_val"] == b["metadata"]["d_val"] and a["metadata"]["warnings"] == b["metadata"]["warnings"]
    disc = ckpt_mod.load_discriminator(straight)
    assert type(disc).__name__ == "PatchDiscriminator" and not disc.training
    rows = [json.loads(x) for x in (tmp_path / "b" / "run" / "finetune_gan" / "log.jsonl").read_text().splitlines()]
    steps_rows = [r for r in rows if "type" not in r]
    # step 1: the warm-up; then the generator moves on every second step, after that step's D update
    assert [r.get("phase", "g") for r in steps_rows] == ["d_warmup", "d_only", "g", "d_only", "g", "d_only"]
    assert all("loss" in r and "g_adv" in r for r in steps_rows if "phase" not in r)
    checks = [(r["step"], r["at"]) for r in rows if r.get("type") == "d_val"]
    assert checks == [(1, "d_warmup_end"), (2, "epoch_end"), (4, "epoch_end"), (6, "epoch_end")]
    assert all(0 <= r["d_accuracy"] <= 1 and 0 <= r["d_auc"] <= 1 for r in rows if r.get("type") == "d_val")
    # the cosine schedule of the generator starts at the end of the warm-up
    assert [r["lr"] for r in steps_rows][:2] == [5e-5, 5e-5]
    cosine = [5e-5 * 0.5 * (1 + math.cos(math.pi * t / 5)) for t in range(1, 5)]  # 5 steps after the warm-up
    assert [r["lr"] for r in steps_rows][2:] == pytest.approx(cosine)


def test_a_discriminator_step_leaves_the_generator_alone(tiny_data):
    from recon_lib.data.dataset import KneeDataset
    from recon_lib.models.checkpoint import build_model
    from recon_lib.physics.masks import MaskFunc

    batch = torch.utils.data.default_collate([KneeDataset(tiny_data / "train", MaskFunc([4]))[0]])
    torch.manual_seed(0)
    model = build_model("SensitivityNetwork", {"num_cascades": 1, "features": 4})
    disc = build_model("PatchDiscriminator", {"features": 4, "num_stages": 2})
    before, d_before = copy_state(model), copy_state(disc)
    learner = steps.Learner(
        model=model,
        optimiser=torch.optim.RMSprop(model.parameters(), lr=1e-3),
        disc=disc,
        d_optimiser=torch.optim.Adam(disc.parameters(), lr=1e-3),
    )
    record = steps.training_step(learner, batch, generator_step=False)
    assert set(record) == {"l_sn", "d_loss"}
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert any(not torch.equal(d_before[k], v) for k, v in disc.state_dict().items())
    assert all(p.grad is None for p in model.parameters())  # computed without gradients
    with pytest.raises(ValueError, match="needs a discriminator"):
        steps.training_step(steps.Learner(model, learner.optimiser), batch, generator_step=False)


def copy_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_a_warmup_that_leaves_the_generator_no_step_is_refused(tiny_data, tiny_pretrained, tmp_path):
    cfg = _with_pretrained(_gan_config(tiny_data, tmp_path, d_warmup_steps=5, d_steps=2), tiny_pretrained)
    with pytest.raises(ConfigError, match=r"stages.finetune_gan.d_warmup_steps = 5 with d_steps = 2 leaves the gen"):
        train.run_stage(cfg, "finetune_gan", progress=False)


def test_the_fine_tune_continues_from_a_shipped_sn_gan_and_its_discriminator(tiny_data, tiny_pretrained, tmp_path):
    shipped = train.run_stage(
        _with_pretrained(_gan_config(tiny_data, tmp_path / "a"), tiny_pretrained), "finetune_gan", progress=False
    )
    cfg = _gan_config(tiny_data, tmp_path / "b", init_checkpoint=str(shipped), d_warmup_steps=0)
    run = train._set_up(cfg, "finetune_gan")  # no pre-trained SN in b's checkpoint folder: not needed
    ckpt = load_checkpoint(shipped)
    assert all(torch.equal(v, ckpt["state_dict"][k]) for k, v in run.model.state_dict().items())
    assert all(torch.equal(v, ckpt["discriminator"]["state_dict"][k]) for k, v in run.disc.state_dict().items())
    other = _gan_config(tiny_data, tmp_path / "c", init_checkpoint=str(shipped))
    other.discriminator = {"features": 8, "num_stages": 2, "spectral_norm": True}
    with pytest.raises(CheckpointError, match=r"ships a PatchDiscriminator .* set discriminator to the checkpoint's"):
        train._set_up(other, "finetune_gan")
    # a checkpoint that ships no discriminator (a pre-trained SN, or the SN-GAN shipped before): a fresh one
    fresh = train._set_up(_gan_config(tiny_data, tmp_path / "d", init_checkpoint=str(tiny_pretrained)), "finetune_gan")
    assert not all(torch.equal(v, ckpt["discriminator"]["state_dict"][k]) for k, v in fresh.disc.state_dict().items())
    with pytest.raises(CheckpointError, match=r"holds a SensitivityNetwork; stage unet trains a UNetReconstructor"):
        train._set_up(tiny_config(tiny_data, tmp_path / "e", unet={"init_checkpoint": str(shipped)}), "unet")


def test_the_shipped_sn_gan_ships_a_discriminator_that_beat_chance_and_the_rule_that_chose_it():
    """The lesson of issue 28: the shipped SN-GAN's discriminator learned (held-out patch accuracy
    above chance at the shipped step), it ships beside the SN-GAN, and the snapshot rule picked it."""
    path = ROOT / "checkpoints" / "sn_gan.pt"
    disc = ckpt_mod.load_discriminator(path)
    assert type(disc).__name__ == "PatchDiscriminator"
    meta = load_checkpoint(path)["metadata"]
    assert meta["d_val"]["d_accuracy"] >= 0.6, meta["d_val"]
    chosen = meta["selection"]["shipped_step"]
    rule = meta["selection"]["rule"]
    scores = meta["selection"]["scores"][str(chosen)]
    assert all(s["dpsnr"] >= -rule["psnr_budget_db"] and s["hf"] <= rule["hf_cap"] for s in scores.values())
    later = [int(step) for step in meta["selection"]["scores"] if int(step) > chosen]
    for step in later:  # every later snapshot broke the rule at some acceleration
        by_af = meta["selection"]["scores"][str(step)].values()
        assert any(s["dpsnr"] < -rule["psnr_budget_db"] or s["hf"] > rule["hf_cap"] for s in by_af)
    assert chosen > meta["settings"]["stage_config"]["d_warmup_steps"]  # the generator moved


# ---- snapshots and the rule that ships one (recon_lib.training.selection) ------------------------------------
def test_snapshots_are_kept_and_the_last_one_the_rule_accepts_ships(tiny_data, tiny_pretrained, tmp_path):
    gan = {"d_warmup_steps": 1, "d_lr": 2e-4, "snapshot_every": 2, "ship_psnr_budget_db": 50.0, "ship_hf_cap": 50.0}
    cfg = _with_pretrained(_gan_config(tiny_data, tmp_path, **gan), tiny_pretrained)
    shipped = load_checkpoint(train.run_stage(cfg, "finetune_gan", progress=False))
    folder = tmp_path / "run" / "finetune_gan" / "snapshots"
    # the warm-up's end (the starting SN), every 2 steps after it, and the stage's last step
    assert sorted(p.name for p in folder.glob("*.pt")) == [
        "step_00001.pt",
        "step_00003.pt",
        "step_00005.pt",
        "step_00006.pt",
    ]
    selection = shipped["metadata"]["selection"]
    assert selection["shipped_step"] == 6  # a generous rule: the last snapshot
    last = load_checkpoint(folder / "step_00006.pt")
    assert all(torch.equal(v, last["state_dict"][k]) for k, v in shipped["state_dict"].items())
    assert all(
        torch.equal(v, last["discriminator"]["state_dict"][k])
        for k, v in shipped["discriminator"]["state_dict"].items()
    )
    first = selection["scores"]["1"]
    assert set(first) == {"4", "8"} and all(s["dpsnr"] == 0.0 and s["hf"] == s["hf_start"] for s in first.values())
    assert any(s["dpsnr"] != 0.0 for s in selection["scores"]["6"].values())  # the generator moved
    # the figure of notebook 05: every snapshot's path per acceleration, the shipped one circled
    import matplotlib.pyplot as plt

    from recon_lib.teaching.plotting import plot_gan_selection

    log = tmp_path / "run" / "finetune_gan" / "log.jsonl"
    fig = plot_gan_selection(log, rule=selection["rule"])
    paths = [line for line in fig.axes[0].get_lines() if line.get_label() in ("AF 4", "AF 8")]
    assert [len(line.get_xdata()) for line in paths] == [4, 4]
    assert list(paths[0].get_xdata()) == [selection["scores"][str(s)]["4"]["hf"] for s in (1, 3, 5, 6)]
    plt.close(fig)
    with pytest.raises(ValueError, match="holds no snapshot scores"):
        plot_gan_selection(_no_selection_log(tmp_path))
    # the result file the pages bind their training numbers to
    from recon_lib.training.summary import main as summary_main

    assert summary_main(["--checkpoints", str(tmp_path / "ckpt"), "--out", str(tmp_path / "summary")]) == 0
    summary = json.loads((tmp_path / "summary" / "summary.json").read_text())
    gan = summary["stages"]["finetune_gan"]
    assert gan["shipped_step"] == 6 and gan["shipped_scores"] == selection["scores"]["6"]
    assert gan["d_val"] == shipped["metadata"]["d_val"] and gan["wall_time_s"] > 0
    assert summary_main(["--checkpoints", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2


def _no_selection_log(tmp_path: Path) -> Path:
    path = tmp_path / "plain.jsonl"
    path.write_text('{"stage": "finetune_gan", "step": 1, "loss": 0.5}\n')
    return path


def test_the_rule_needs_every_acceleration_and_an_impossible_one_ships_nothing(tiny_data, tiny_pretrained, tmp_path):
    from recon_lib.training.selection import last_qualifying

    scores = {
        8: {4: {"dpsnr": -0.2, "hf": 0.9}, 8: {"dpsnr": -0.1, "hf": 0.8}},
        16: {4: {"dpsnr": -0.9, "hf": 1.1}, 8: {"dpsnr": -0.3, "hf": 0.9}},
        24: {4: {"dpsnr": -1.3, "hf": 1.1}, 8: {"dpsnr": -0.5, "hf": 1.0}},  # AF 4 over budget
        32: {4: {"dpsnr": -0.5, "hf": 1.2}, 8: {"dpsnr": -0.5, "hf": 1.0}},  # AF 4 over the texture cap
    }
    assert last_qualifying(scores, psnr_budget_db=1.0, hf_cap=1.15) == 16
    assert last_qualifying(scores, psnr_budget_db=2.0, hf_cap=1.15) == 24
    assert last_qualifying(scores, psnr_budget_db=0.1, hf_cap=1.15) is None
    gan = {"d_warmup_steps": 1, "d_lr": 2e-4, "snapshot_every": 2, "ship_hf_cap": 1e-6}
    impossible = _with_pretrained(_gan_config(tiny_data, tmp_path, **gan), tiny_pretrained)
    with pytest.raises(steps.TrainingError, match=r"no snapshot is within 1.0 dB .* so none ships \(step 1: AF 4"):
        train.run_stage(impossible, "finetune_gan", progress=False)
    assert not (tmp_path / "ckpt" / "sn_gan.pt").exists()


def test_one_sn_gan_per_acceleration_ships_each_accelerations_choice_without_retraining(
    tiny_data, tiny_pretrained, tmp_path, monkeypatch
):
    """``ship_per_acceleration``: the rule applied at each acceleration alone, each choice shipped as
    ``sn_gan_af<a>.pt`` beside the joint ``sn_gan.pt``; the rule may change on a finished run (it
    resumes at its last step and re-applies the rule to the kept snapshots, training nothing), and
    switching it off removes the per-acceleration files, which would otherwise serve their AF."""
    from recon_lib.models.stages import FINETUNE_GAN

    # scores by design: AF 4 leaves the budget after step 3, AF 8 never does
    designed = {
        1: {4: {"dpsnr": 0.0, "hf": 0.7, "hf_start": 0.7}, 8: {"dpsnr": 0.0, "hf": 0.4, "hf_start": 0.4}},
        3: {4: {"dpsnr": -0.8, "hf": 0.9, "hf_start": 0.7}, 8: {"dpsnr": -0.1, "hf": 0.5, "hf_start": 0.4}},
        5: {4: {"dpsnr": -1.5, "hf": 1.1, "hf_start": 0.7}, 8: {"dpsnr": -0.3, "hf": 0.6, "hf_start": 0.4}},
        6: {4: {"dpsnr": -1.7, "hf": 1.2, "hf_start": 0.7}, 8: {"dpsnr": -0.4, "hf": 0.7, "hf_start": 0.4}},
    }
    monkeypatch.setattr(train, "snapshot_scores", lambda root, start, models, afs, device: designed)
    gan = {"d_warmup_steps": 1, "d_lr": 2e-4, "snapshot_every": 2}
    joint_only = _with_pretrained(_gan_config(tiny_data, tmp_path, **gan), tiny_pretrained)
    train.run_stage(joint_only, "finetune_gan", progress=False)
    ckpt_dir, snaps = Path(joint_only.checkpoint_dir), tmp_path / "run" / "finetune_gan" / "snapshots"
    assert sorted(p.name for p in ckpt_dir.glob("sn_gan*.pt")) == ["sn_gan.pt"]
    assert FINETUNE_GAN.checkpoint_for(ckpt_dir, 8) == ckpt_dir / "sn_gan.pt"
    stamps = {p.name: p.stat().st_mtime_ns for p in snaps.glob("*.pt")}

    per_af = _with_pretrained(_gan_config(tiny_data, tmp_path, **gan, ship_per_acceleration=True), tiny_pretrained)
    with pytest.raises(CheckpointError, match="other settings"):  # a changed rule is a deliberate act
        train.run_stage(per_af, "finetune_gan", progress=False)
    train.run_stage(per_af, "finetune_gan", force=True, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in snaps.glob("*.pt")} == stamps  # nothing trained again

    def same_weights(path: Path, step: int) -> bool:
        shipped, snap = load_checkpoint(path), load_checkpoint(snaps / f"step_{step:05d}.pt")
        gen = all(torch.equal(v, snap["state_dict"][k]) for k, v in shipped["state_dict"].items())
        disc = shipped["discriminator"]["state_dict"]
        return gen and all(torch.equal(v, snap["discriminator"]["state_dict"][k]) for k, v in disc.items())

    assert same_weights(ckpt_dir / "sn_gan.pt", 3) and same_weights(ckpt_dir / "sn_gan_af4.pt", 3)
    assert same_weights(ckpt_dir / "sn_gan_af8.pt", 6)
    meta8 = load_checkpoint(ckpt_dir / "sn_gan_af8.pt")["metadata"]
    assert meta8["shipped_for"] == 8 and meta8["selection"]["shipped_step"] == 6
    assert meta8["selection"]["per_acceleration"] == {"4": 3, "8": 6}
    assert FINETUNE_GAN.checkpoint_for(ckpt_dir, 8) == ckpt_dir / "sn_gan_af8.pt"
    assert train.run_stage(per_af, "finetune_gan", progress=False)  # now it matches: a skip
    log = [json.loads(line) for line in (tmp_path / "run" / "finetune_gan" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r.get("type") == "selection"] == [1, 3, 5, 6]  # the rule's rows once
    assert [(r["step"], r.get("acceleration")) for r in log if r.get("type") == "shipped"] == [
        (3, None),
        (3, 4),
        (6, 8),
    ]
    import matplotlib.pyplot as plt

    from recon_lib.teaching.plotting import plot_gan_selection

    fig = plot_gan_selection(tmp_path / "run" / "finetune_gan" / "log.jsonl")
    squares = [line for line in fig.axes[0].get_lines() if line.get_marker() == "s"]  # AF 8's own choice only
    assert [(list(sq.get_xdata()), list(sq.get_ydata())) for sq in squares] == [([0.7], [-0.4])]
    plt.close(fig)
    from recon_lib.training.summary import training_summary

    summary = training_summary(ckpt_dir)["stages"]["finetune_gan"]
    assert summary["per_acceleration"]["8"]["shipped_step"] == 6
    assert summary["per_acceleration"]["8"]["shipped_scores"] == designed[6][8]

    train.run_stage(joint_only, "finetune_gan", force=True, progress=False)
    assert sorted(p.name for p in ckpt_dir.glob("sn_gan*.pt")) == ["sn_gan.pt"]


def test_snapshot_settings_belong_to_the_adversarial_stage(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match=r"stages.pretrain.snapshot_every is 2, but snapshot_every applies only"):
        tiny_config(tiny_data, tmp_path, pretrain={"snapshot_every": 2})


def test_per_acceleration_shipping_needs_snapshots(tiny_data, tmp_path):
    with pytest.raises(ConfigError, match=r"ship_per_acceleration needs snapshots to choose from: set .*every"):
        tiny_config(tiny_data, tmp_path, finetune_gan={"ship_per_acceleration": True})
