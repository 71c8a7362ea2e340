"""The test that would have caught issue 28: from the shipped pre-trained SN, on the embedded data, a
short SN-GAN stage's discriminator learns to tell the reference from the SN on held-out slices with a
sound setting, and stays at chance -- with the trainer's warning -- at the shipped d_lr of 1e-5.

Real data (data/knee), the real pre-trained SN (checkpoints/sn_pretrained.pt) and the teaching run's
discriminator (32 features, 3 stages) with spectral normalisation; the stage is a 90-step
discriminator warm-up (on the frozen SN's outputs, where the issue measured a fresh D at chance at
1e-5) and one generator step, checked on the first validation volume (8 slices). One thread.
Measured while writing it (2 loaded cores): d_lr 2e-4 reaches patch accuracy 0.52 / 0.58 / 0.66
after 30 / 60 / 90 warm-up steps (image AUC 1.0 from step 30); without spectral normalisation
0.53 / 0.56 / 0.59 after 30 / 60 / 80 (all 16 validation slices).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pytest
import torch

from recon_lib.models.checkpoint import load_checkpoint
from recon_lib.training import trainer as train
from recon_lib.training.config import load_config
from recon_lib.training.discriminator_check import CHANCE

ROOT = Path(__file__).resolve().parents[1]
EMBEDDED = ROOT / "data" / "knee"
PRETRAINED = ROOT / "checkpoints" / "sn_pretrained.pt"
#: the warm-up's steps (the embedded training split holds 96 slices: one epoch)
WARMUP = 90

pytestmark = pytest.mark.skipif(
    not (EMBEDDED / "train.prepared").is_dir() or not PRETRAINED.is_file(),
    reason="needs the embedded dataset (make data) and the shipped pre-trained SN",
)


def _gan_stage(tmp_path: Path, d_lr: float) -> tuple[dict, list[dict], list[str]]:
    """The teaching config's SN-GAN stage with a warm-up and ``d_lr``: (final metadata, log rows, warnings)."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    shutil.copyfile(PRETRAINED, checkpoints / PRETRAINED.name)
    stage = {
        "epochs": 1,
        "max_steps_per_epoch": WARMUP + 1,
        "d_warmup_steps": WARMUP,
        "d_lr": d_lr,
        "d_steps": 1,  # the generator's one step comes right after the warm-up
        "snapshot_every": None,  # the final weights, no snapshots to choose from
        "checkpoint_every": 10_000,
    }
    overrides = {
        "output_dir": str(tmp_path / "run"),
        "checkpoint_dir": str(checkpoints),
        "threads": 1,
        "device": "cpu",
        "data": {"root": str(EMBEDDED), "max_val_volumes": 1},
        "discriminator": {"spectral_norm": True},  # merged into the teaching run's 32 features, 3 stages
        "stages": {"finetune_gan": stage},
    }
    cfg = load_config(ROOT / "configs" / "teaching.yaml", overrides)
    torch_threads = torch.get_num_threads()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = train.run_stage(cfg, "finetune_gan", progress=False)
    torch.set_num_threads(torch_threads)
    rows = [json.loads(line) for line in (tmp_path / "run" / "finetune_gan" / "log.jsonl").read_text().splitlines()]
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    return load_checkpoint(path)["metadata"] | {"summary": train._summary("finetune_gan", path)}, rows, messages


def test_a_sound_setting_makes_the_discriminator_tell_the_reference_from_the_sn(tmp_path):
    meta, rows, messages = _gan_stage(tmp_path, d_lr=2e-4)
    checks = {r["at"]: r for r in rows if r.get("type") == "d_val"}
    assert set(checks) == {"d_warmup_end", "epoch_end"}
    print({at: (round(r["d_accuracy"], 3), round(r["d_auc"], 3)) for at, r in checks.items()})
    assert checks["d_warmup_end"]["d_accuracy"] >= 0.6  # on the frozen pre-trained SN's outputs
    assert meta["d_val"]["d_accuracy"] >= 0.6 and meta["d_val"]["at"] == "epoch_end"
    assert meta["d_val"]["d_real"] > meta["d_val"]["d_fake"]
    assert not meta["warnings"] and not messages and "warning" not in meta["summary"]
    assert not any(r.get("type") == "warning" for r in rows)


def test_the_shipped_d_lr_leaves_the_discriminator_at_chance_and_the_trainer_says_so(tmp_path):
    meta, rows, messages = _gan_stage(tmp_path, d_lr=1e-5)
    print({r["at"]: (round(r["d_accuracy"], 3), round(r["d_auc"], 3)) for r in rows if r.get("type") == "d_val"})
    assert meta["d_val"]["d_accuracy"] < CHANCE
    logged = [r["message"] for r in rows if r.get("type") == "warning"]
    assert logged and logged == meta["warnings"] == messages
    assert all("the discriminator is at chance" in m for m in logged)
    assert f"warning: {logged[-1]}" in meta["summary"]
