"""The test that would have caught issue 28: from the shipped pre-trained SN, on the embedded data, a
short SN-GAN stage's discriminator learns to tell the reference from the SN on held-out slices with a
sound setting, and stays at chance -- with the trainer's warning -- at the previous release's d_lr of 1e-5.

Real data (data/knee), the real pre-trained SN (checkpoints/sn_pretrained.pt) and the teaching run's
discriminator (32 features, 3 stages, kernel 3, spectral normalisation); the stage is a 190-step
discriminator warm-up (two epochs of the 96 training slices less two; on the frozen SN's outputs,
where the issue measured a fresh D at chance at 1e-5) and two generator steps, checked on the first
validation volume (8 slices). One thread. On simulator 2's knees a 90-step warm-up at d_lr 2e-4
reached patch accuracy 0.585 (image AUC 1.0), just short of 0.6; the shipped run's own check read
0.587 after its 120-step warm-up and 0.611-0.672 over the next 144 steps.
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
#: the warm-up's steps: two epochs of the embedded training split's 96 slices, less the generator's two
#: steps (on simulator 2's knees 90 steps reached patch accuracy 0.585 / 0.597, image AUC 1.0)
WARMUP = 190

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
        "epochs": 2,  # 96 steps each
        "d_warmup_steps": WARMUP,
        "d_lr": d_lr,
        "d_steps": 1,  # the generator's one step comes right after the warm-up
        "snapshot_every": None,  # the final weights, no snapshots to choose from
        "ship_per_acceleration": False,  # nor one per acceleration
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


def test_the_previous_d_lr_leaves_the_discriminator_at_chance_and_the_trainer_says_so(tmp_path):
    meta, rows, messages = _gan_stage(tmp_path, d_lr=1e-5)
    print({r["at"]: (round(r["d_accuracy"], 3), round(r["d_auc"], 3)) for r in rows if r.get("type") == "d_val"})
    assert meta["d_val"]["d_accuracy"] < CHANCE
    logged = [r["message"] for r in rows if r.get("type") == "warning"]
    assert logged and logged == meta["warnings"] == messages
    assert all("the discriminator is at chance" in m for m in logged)
    assert f"warning: {logged[-1]}" in meta["summary"]
