"""Robustness of training, settings and checkpoint roles (issue 24, groups 4 and 5).

* Mixed widths: real fastMRI knee volumes differ in width; batches group equal shapes, in the
  same order as before whenever every slice has one shape.
* Settings as users write them: ``lr: 1e-3`` in a YAML file is a number, as on the command line;
  a section of the wrong type is one error naming it, with or without ``--set``.
* Checkpoints checked against the role they fill: the SN, the SN-GAN, the U-Net, the pre-trained SN.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
import yaml
from test_train import kill_after, tiny_config

from recon_lib.data.dataset import KneeDataset
from recon_lib.data.phantom.simulate import Geometry, simulate_volume, write_volume
from recon_lib.data.prepare import prepare_folder
from recon_lib.models.checkpoint import (
    CheckpointError,
    build_model,
    check_role,
    load_checkpoint,
    load_role_model,
    save_checkpoint,
)
from recon_lib.models.stages import RECIPE, ROLES
from recon_lib.physics.masks import MaskFunc
from recon_lib.training import trainer as train
from recon_lib.training.config import ConfigError, load_config, parse_overrides
from recon_lib.training.runtime import ShapeBatchSampler

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints"
EMBEDDED = ROOT / "data" / "knee"
WIDTHS = (184, 188)  # two k-space widths with the same 160 x 160 target (as fastMRI's 368 / 372)


# ---- mixed widths ---------------------------------------------------------------------------------
def _old_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int, world: int) -> list[list[int]]:
    """The batches training used before (the sampler of 2ddf0f7, written out): the epoch's permutation,
    wrapped to ``ceil(n / world)`` per rank, this rank's share ``rank::world``, cut into batch_size."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    per_rank = math.ceil(n / world)
    share = (perm * math.ceil(per_rank * world / n))[: per_rank * world][rank::world]
    return [share[i : i + batch_size] for i in range(0, len(share), batch_size)]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_one_shape_gives_the_old_batches_on_every_rank_and_epoch(world):
    for n, batch_size, seed, epoch in itertools.product([1, 2, 5, 16, 33], [1, 2, 3], [0, 7], [0, 1, 4]):
        for rank in range(world):
            sampler = ShapeBatchSampler([(15, 320, 184)] * n, batch_size, seed, rank, world)
            sampler.set_position(epoch, 0)
            old = _old_batches(n, batch_size, seed, epoch, rank, world)
            assert sampler.batches() == old and sampler.num_batches == len(old), (n, batch_size, seed, epoch, rank)


@pytest.mark.skipif(not (EMBEDDED / "train.prepared").is_dir(), reason="needs the embedded dataset (make data)")
def test_the_embedded_data_trains_on_the_same_batches_as_before():
    """The embedded split has one shape: the grouped sampler reproduces the old order exactly."""
    shapes = train.sample_shapes(KneeDataset(EMBEDDED / "train", MaskFunc([4, 8]), train=True))
    assert len(set(shapes)) == 1
    for batch_size, world, epoch in itertools.product([1, 2, 4], [1, 2], [0, 3]):
        for rank in range(world):
            sampler = ShapeBatchSampler(shapes, batch_size, seed=0, rank=rank, world=world)
            sampler.set_position(epoch, 0)
            assert sampler.batches() == _old_batches(len(shapes), batch_size, 0, epoch, rank, world)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_mixed_shapes_give_one_shape_per_batch_and_equal_batch_counts_on_every_rank(world):
    shapes = ["a"] * 5 + ["b"] * 7 + ["c"]  # three widths, counts that do not divide the batch
    for batch_size, epoch in itertools.product([1, 2, 3], [0, 1, 2]):
        per_rank = []
        for rank in range(world):
            sampler = ShapeBatchSampler(shapes, batch_size, seed=5, rank=rank, world=world)
            sampler.set_position(epoch, 0)
            per_rank.append(sampler.batches())
            assert len(per_rank[-1]) == sampler.num_batches  # the same count in every epoch
        assert len({len(batches) for batches in per_rank}) == 1  # DDP ranks step in lockstep
        for step in zip(*per_rank, strict=True):
            assert len({len(batch) for batch in step}) == 1  # and with batches of one size at each step
            for batch in step:
                assert 1 <= len(batch) <= batch_size and len({shapes[i] for i in batch}) == 1
        assert {i for batches in per_rank for b in batches for i in b} == set(range(len(shapes)))


def test_a_resumed_position_skips_whole_batches():
    shapes = ["a", "b"] * 5
    sampler = ShapeBatchSampler(shapes, 2, seed=1)
    sampler.set_position(2, 0)
    full = list(sampler)
    sampler.set_position(2, 3)
    assert list(sampler) == full[3:] and len(sampler) == len(full) - 3


@pytest.fixture(scope="module")
def mixed_widths(tmp_path_factory) -> Path:
    """Train (3 slices of each width), val and test (1 slice of each width), 4 coils, prepared."""
    root = tmp_path_factory.mktemp("mixedwidths")
    for i, width in enumerate(WIDTHS):
        geometry = Geometry(f"w{width}", (320, width), (160, 160), 4, (4, width - 4), 0.875)
        for split, slices, acquisition in (
            ("train", 3, "CORPD_FBK"),
            ("val", 1, "CORPDFS_FBK"),
            ("test", 1, "CORPD_FBK"),
        ):
            volume = simulate_volume(
                seed=60 + 10 * i + slices, acquisition=acquisition, geometry=geometry, num_slices=slices
            )
            write_volume(root / split / f"knee_{split}_w{width}.h5", volume)
    prepare_folder(root)
    return root


def _mixed_config(data: Path, out: Path):
    stage = {"epochs": 1, "batch_size": 2, "max_steps_per_epoch": None, "checkpoint_every": 1}
    return tiny_config(data, out, pretrain=stage)


def test_training_with_batch_size_2_on_mixed_widths_and_validating_them(mixed_widths, tmp_path):
    cfg = _mixed_config(mixed_widths, tmp_path)
    assert {s[0][-1] for s in train.sample_shapes(train.make_train_dataset(cfg))} == set(WIDTHS)
    path = train.run_stage(cfg, "pretrain", progress=False)
    meta = load_checkpoint(path)["metadata"]
    assert meta["step"] == 4  # 3 slices of each width in batches of 2: 2 + 2 batches
    assert set(meta["val"]) == {"nmse", "psnr", "ssim"} and all(math.isfinite(v) for v in meta["val"].values())
    model = load_role_model(path, "sn")[0]
    scores = train.validate(model, train.make_val_dataset(cfg), torch.device("cpu"))  # both widths, one call
    assert scores == pytest.approx(meta["val"])


def test_mixed_width_training_resumes_to_the_same_weights(mixed_widths, tmp_path, monkeypatch):
    straight = train.run_stage(_mixed_config(mixed_widths, tmp_path / "a"), "pretrain", progress=False)
    cfg_b = _mixed_config(mixed_widths, tmp_path / "b")
    with monkeypatch.context() as patch:
        kill_after(patch, 3)  # killed mid-epoch, after 3 of its 4 batches
        with pytest.raises(KeyboardInterrupt):
            train.run_stage(cfg_b, "pretrain", progress=False)
    resumed = train.run_stage(cfg_b, "pretrain", progress=False)
    a, b = load_checkpoint(straight)["state_dict"], load_checkpoint(resumed)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---- settings as users write them -------------------------------------------------------------------
@pytest.mark.parametrize("written,value", [("1e-3", 1e-3), ("5e-5", 5e-5), ("1E-4", 1e-4), ("2.5e-4", 2.5e-4)])
def test_exponent_floats_in_a_yaml_file_are_numbers_as_on_the_command_line(tmp_path, written, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"stages:\n  pretrain: {{lr: {written}}}\n")
    from_file = load_config(path).stages["pretrain"].lr
    path.write_text("name: teaching\n")
    from_set = load_config(path, parse_overrides([f"stages.pretrain.lr={written}"])).stages["pretrain"].lr
    assert from_file == from_set == value and isinstance(from_file, float)


def test_a_negative_exponent_float_is_a_number_refused_by_its_range(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stages:\n  pretrain: {lr: -1e-3}\n")
    with pytest.raises(ConfigError, match=r"stages\.pretrain\.lr must be > 0, got -0\.001"):
        load_config(path)


def test_a_quoted_number_stays_a_string_and_yaml_itself_is_not_patched(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("stages:\n  pretrain: {lr: '1e-3'}\n")
    with pytest.raises(ConfigError, match=r"stages\.pretrain\.lr must be a finite number, got '1e-3'"):
        load_config(path)
    assert yaml.safe_load("lr: 1e-3") == {"lr": "1e-3"}  # only the config loader reads YAML 1.2 floats


@pytest.mark.parametrize(
    "text,override,match",
    [
        ("data: [data/knee]\n", "data.root=data/other", r"data must be a mapping, got list"),
        ("data: []\n", "data.root=data/other", r"data must be a mapping, got list"),
        ("stages: pretrain\n", "stages.pretrain.lr=1e-3", r"stages must be a mapping.*got str 'pretrain'"),
        ("stages: {pretrain: [10]}\n", "stages.pretrain.epochs=2", r"stages\.pretrain must be a mapping"),
        ("sn: 5\n", "sn.features=8", r"sn must be a mapping"),
    ],
)
@pytest.mark.parametrize("with_set", [False, True])
def test_a_wrongly_typed_section_is_refused_with_or_without_set(tmp_path, text, override, match, with_set):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"c\.yaml: {match}"):
        load_config(path, parse_overrides([override] if with_set else []))


def test_a_config_file_that_is_not_a_mapping_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- seed: 1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: the config must be a mapping"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"c\.yaml: the config must be a mapping"):
        load_config(path, parse_overrides(["seed=2"]))


def test_set_of_a_value_and_a_key_inside_it_is_refused():
    with pytest.raises(ConfigError, match=r"--set data\.root=x: data is set to a value by another --set"):
        parse_overrides(["data=knee", "data.root=x"])


def test_the_training_command_names_a_section_given_as_a_list(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  - root: data/knee\n")
    assert train.main(["--config", str(path), "--set", f"data.root={tmp_path}"]) == 2
    assert "data must be a mapping, got list" in capsys.readouterr().err


# ---- checkpoints checked against their role ------------------------------------------------------------
def _save(path: Path, stage: str | None, accelerations: list[float] | None = None) -> Path:
    cls = "UNetReconstructor" if stage == "unet" else "SensitivityNetwork"
    args = {"chans": 4, "num_pool_layers": 2} if stage == "unet" else {"num_cascades": 1, "features": 4}
    meta: dict = {} if stage is None else {"stage": stage}
    if accelerations is not None:
        meta["accelerations"] = accelerations
    return save_checkpoint(path, build_model(cls, args), meta)


def _folder(tmp_path: Path, **stages: str) -> Path:
    """A checkpoint folder: file stem -> the stage its checkpoint records."""
    for stem, stage in stages.items():
        _save(tmp_path / f"{stem}.pt", stage, [4, 8])
    return tmp_path


@pytest.mark.skipif(not (SHIPPED / "sn_gan.pt").is_file(), reason="needs the shipped checkpoints")
def test_the_shipped_checkpoints_fill_every_role_they_fill_today():
    fills = {
        "sn_finetuned.pt": ["sn"],
        "sn_gan.pt": ["sn_gan"],
        "sn_pretrained.pt": ["pretrained_sn", "sn"],
        "sn_seed1.pt": ["sn"],  # the shared-initialisation lesson's SN of another seed (stage pretrain)
        "unet.pt": ["unet"],
    }
    for name, roles in fills.items():
        metadata = load_checkpoint(SHIPPED / name)["metadata"]
        for role in roles:
            check_role(metadata, role, SHIPPED / name, accelerations=[4, 8])
    assert {s.name: s.role for s in RECIPE} == {
        "pretrain": "pretrained_sn",
        "finetune_sn": "sn",
        "finetune_gan": "sn_gan",
        "unet": "unet",
    }


def test_a_pretrained_sn_saved_as_the_sn_gan_is_refused_by_the_explorer_and_the_sweep(tmp_path):
    from recon_lib.evaluation.sweep import load_end_points
    from recon_lib.teaching.explorer.slices import load_end_models

    folder = _folder(tmp_path, sn_finetuned="finetune_sn", sn_gan="pretrain")
    message = (
        r"sn_gan\.pt holds stage 'pretrain' \(a pre-trained SN\), but the SN-GAN role needs an adversarially "
        r"fine-tuned SN \(stage finetune_gan\)"
    )
    with pytest.raises(CheckpointError, match=message):
        load_end_models(folder, ("finetune_sn", "finetune_gan"))
    with pytest.raises(CheckpointError, match=message):
        load_end_points(folder)


@pytest.mark.parametrize(
    "role,stage,needs",
    [
        ("sn", "finetune_gan", r"the SN role needs an SN trained with L_SN alone \(stage finetune_sn"),
        ("sn", "unet", r"the SN role needs an SN trained with L_SN alone"),
        ("sn_gan", "pretrain", r"the SN-GAN role needs an adversarially fine-tuned SN \(stage finetune_gan\)"),
        ("sn_gan", "finetune_sn", r"the SN-GAN role needs an adversarially fine-tuned SN"),
        ("unet", "finetune_sn", r"the U-Net role needs a U-Net \(stage unet\)"),
        ("pretrained_sn", "finetune_gan", r"the pre-trained SN role needs a pre-trained SN \(stage pretrain\)"),
    ],
)
def test_each_role_refuses_another_stage_naming_file_stage_and_need(tmp_path, role, stage, needs):
    path = _save(tmp_path / "model.pt", stage)
    with pytest.raises(CheckpointError, match=rf"model\.pt holds stage '{stage}' \(.+\), but {needs}"):
        load_role_model(path, role)


@pytest.mark.parametrize(
    "role,stage",
    [("sn", "finetune_sn"), ("sn", "pretrain"), ("sn_gan", "finetune_gan"), ("unet", "unet"), ("sn", None)],
)
def test_each_role_accepts_its_stages_and_a_checkpoint_without_a_recorded_stage(tmp_path, role, stage):
    model, meta = load_role_model(_save(tmp_path / "model.pt", stage), role, accelerations=[4, 8])
    assert type(model).__name__ == ROLES[role].model_class and meta.get("stage") == stage


def test_a_stage_the_recipe_does_not_know_is_refused(tmp_path):
    path = _save(tmp_path / "model.pt", "gan")
    with pytest.raises(CheckpointError, match=r"model\.pt records stage 'gan', which is none of the recipe's stages"):
        load_role_model(path, "sn_gan")


def test_the_recorded_accelerations_must_cover_the_requested_ones(tmp_path):
    path = _save(tmp_path / "model.pt", "finetune_sn", [4])
    with pytest.raises(CheckpointError, match=r"model\.pt was trained for acceleration\(s\) 4, not for 8"):
        load_role_model(path, "sn", accelerations=[4, 8])
    assert load_role_model(path, "sn", accelerations=[4.0])[1]["accelerations"] == [4]
    unrecorded = _save(tmp_path / "old.pt", "finetune_sn")  # no accelerations recorded: not checked
    load_role_model(unrecorded, "sn", accelerations=[4, 8])


def test_table1_refuses_a_u_net_file_holding_an_sn(tmp_path):
    from recon_lib.evaluation.table1 import standard_methods

    folder = _folder(tmp_path, sn_finetuned="finetune_sn", sn_gan="finetune_gan", unet="pretrain")
    with pytest.raises(CheckpointError, match=r"unet\.pt holds stage 'pretrain' .* the U-Net role needs a U-Net"):
        standard_methods(folder)


def test_the_alpha_validation_command_names_the_wrong_sn_gan(tmp_path, capsys):
    from recon_lib.evaluation.alpha_validation import main

    folder = _folder(tmp_path / "ckpt", sn_finetuned="finetune_sn", sn_gan="finetune_sn")
    (tmp_path / "data" / "val").mkdir(parents=True)
    code = main(["--data", str(tmp_path / "data"), "--checkpoints", str(folder), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "sn_gan.pt holds stage 'finetune_sn'" in capsys.readouterr().err


def test_the_shared_init_lesson_refuses_an_unrelated_sn_that_is_an_sn_gan(tmp_path, capsys):
    from recon_lib.evaluation.shared_init import main

    folder = _folder(tmp_path / "ckpt", sn_finetuned="finetune_sn", sn_gan="finetune_gan", sn_seed1="finetune_gan")
    (tmp_path / "data" / "test").mkdir(parents=True)
    code = main(["--data", str(tmp_path / "data"), "--checkpoints", str(folder), "--out", str(tmp_path / "out")])
    assert code == 2
    assert "sn_seed1.pt holds stage 'finetune_gan'" in capsys.readouterr().err
