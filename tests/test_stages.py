"""The stage record: today's checkpoint file names and the facts the trainer switches on, in one place."""

from __future__ import annotations

import dataclasses

import pytest

from recon_lib.models.stages import FINETUNE_GAN, RECIPE, UNET, Stage, get_stage
from recon_lib.training.config import STAGES, TrainConfig


def test_the_shipped_file_names_do_not_change():
    assert {s.name: s.checkpoint_name() for s in RECIPE} == {
        "pretrain": "sn_pretrained.pt",
        "finetune_sn": "sn_finetuned.pt",
        "finetune_gan": "sn_gan.pt",
        "unet": "unet.pt",
    }


def test_both_fine_tunings_start_from_the_pretrained_sn_and_only_the_gan_is_adversarial():
    assert {s.name: s.init_from for s in RECIPE} == {
        "pretrain": None,
        "finetune_sn": "pretrain",
        "finetune_gan": "pretrain",
        "unet": None,
    }
    assert [s.name for s in RECIPE if s.adversarial] == ["finetune_gan"]


def test_config_stages_and_model_sections_come_from_the_record():
    assert STAGES == ("pretrain", "finetune_sn", "finetune_gan", "unet")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert all(s.model_section in fields for s in RECIPE)
    assert UNET.model_class == "UNetReconstructor" and FINETUNE_GAN.model_class == "SensitivityNetwork"


def test_a_per_acceleration_file_keeps_the_stage_stem():
    assert FINETUNE_GAN.checkpoint_name(4) == "sn_gan_af4.pt"
    assert UNET.checkpoint_path("ckpt", acceleration=8).as_posix() == "ckpt/unet_af8.pt"


def test_an_unknown_stage_names_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown stage 'gan' \(stages: pretrain, finetune_sn, finetune_gan, unet\)"):
        get_stage("gan")


def test_the_record_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FINETUNE_GAN.checkpoint = "other.pt"  # type: ignore[misc]
    assert isinstance(get_stage("unet"), Stage)
