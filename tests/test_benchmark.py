"""benchmarks/benchmark.py: the models it times are the SN and the SN-GAN of its slices' acceleration."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from benchmark import ACCELERATION, load_pair  # noqa: E402

from recon_lib.models.checkpoint import load_model, save_checkpoint  # noqa: E402
from recon_lib.models.stages import FINETUNE_GAN, FINETUNE_SN  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.mark.skipif(not (SHIPPED / "sn_gan.pt").is_file(), reason="needs the shipped checkpoints")
def test_load_pair_takes_the_sn_gan_of_the_benchmarks_acceleration(tmp_path):
    import shutil

    for stage in (FINETUNE_SN, FINETUNE_GAN):
        shutil.copyfile(stage.checkpoint_path(SHIPPED), stage.checkpoint_path(tmp_path))
    sn, meta = load_model(FINETUNE_SN.checkpoint_path(SHIPPED))
    shared = load_model(FINETUNE_GAN.checkpoint_path(SHIPPED))[0]
    _, _, source = load_pair(tmp_path, ACCELERATION)
    assert source == "shipped checkpoints, SN-GAN sn_gan.pt"  # no file of its own: as before
    own = meta | {"stage": "finetune_gan", "shipped_for": ACCELERATION}
    save_checkpoint(FINETUNE_GAN.checkpoint_path(tmp_path, ACCELERATION), sn, own)  # the SN's weights
    pair_sn, gan, source = load_pair(tmp_path, ACCELERATION)
    assert source == f"shipped checkpoints, SN-GAN sn_gan_af{ACCELERATION}.pt"
    assert _same_weights(gan, sn) and _same_weights(pair_sn, sn)
    assert _same_weights(load_pair(tmp_path, 4)[1], shared) and _same_weights(load_pair(tmp_path)[1], shared)
