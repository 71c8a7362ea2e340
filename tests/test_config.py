"""Config files: defaults, strict keys, the shipped configs parse."""

from pathlib import Path

import pytest

from recon_lib.training.config import ConfigError, config_from_dict, load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["teaching", "paper", "tiny"])
def test_shipped_configs_load(name):
    cfg = load_config(ROOT / "configs" / f"{name}.yaml")
    assert cfg.name == name
    assert set(cfg.stages) == {"pretrain", "finetune_sn", "finetune_gan", "unet"}


def test_paper_config_is_the_papers_recipe():
    cfg = load_config(ROOT / "configs" / "paper.yaml")
    assert cfg.sn["num_cascades"] == 10
    assert cfg.stages["pretrain"].epochs == 50 and cfg.stages["pretrain"].lr == 1e-4
    assert cfg.stages["finetune_sn"].epochs == 10 and cfg.stages["finetune_gan"].lr == 5e-5
    assert cfg.stages["finetune_gan"].gamma == 0.1


def test_partial_stage_settings_merge_with_defaults():
    cfg = config_from_dict({"stages": {"pretrain": {"epochs": 3}}})
    assert cfg.stages["pretrain"].epochs == 3 and cfg.stages["pretrain"].lr == 1e-4


@pytest.mark.parametrize(
    "values,match",
    [
        ({"learning_rate": 1}, "unknown config key config.learning_rate"),
        ({"data": {"rot": "x"}}, "unknown config key data.rot"),
        ({"stages": {"pretrian": {}}}, "unknown config key stages.pretrian"),
        ({"stages": {"pretrain": {"epoch": 2}}}, "unknown config key stages.pretrain.epoch"),
        ({"sn": [1, 2]}, "sn must be a mapping"),
    ],
)
def test_unknown_keys_are_named(values, match):
    with pytest.raises(ConfigError, match=match):
        config_from_dict(values)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_center_fractions_are_optional_and_follow_the_data():
    from recon_lib.training.config import ConfigError, config_from_dict

    assert config_from_dict({}).data.center_fractions is None  # each volume's prepared fractions (issue 27)
    cfg = config_from_dict({"data": {"center_fractions": [0.08, 0.04]}})
    assert cfg.data.center_fractions == [0.08, 0.04]
    with pytest.raises(ConfigError, match="one centre fraction per acceleration"):
        config_from_dict({"data": {"center_fractions": [0.08]}})
