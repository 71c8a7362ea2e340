"""Training configuration: plain YAML files mapped onto dataclasses with strict key checking.

A config file has the sections below; every key is optional (the defaults are the teaching
configuration) but an unknown key is an error naming it, so a typo never silently falls back
to a default. ``configs/teaching.yaml`` is the shipped teaching run, ``configs/paper.yaml`` the
paper's full configuration (10 cascades, 320x320, 15 coils, 50 + 10 epochs).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ConfigError", "DataConfig", "StageConfig", "TrainConfig", "load_config", "config_from_dict"]


class ConfigError(ValueError):
    """A configuration file or dictionary is invalid."""


@dataclass
class DataConfig:
    root: str = "data/knee"  # prepared dataset folder with train/ val/ test/ subfolders
    accelerations: list[float] = field(default_factory=lambda: [4, 8])
    center_fractions: list[float] = field(default_factory=lambda: [0.08, 0.04])
    num_workers: int = 0  # DataLoader workers; 0 = load in the main process
    max_val_volumes: int | None = None  # validate on the first N val volumes (None: all)


@dataclass
class StageConfig:
    epochs: int = 1
    lr: float = 1e-4
    batch_size: int = 1
    max_steps_per_epoch: int | None = None  # cap for quick runs (None: the whole training split)
    checkpoint_every: int = 50  # steps between resumable checkpoints (plus one at every epoch end)
    gamma: float = 0.1  # SN-GAN only: weight of L_SN in the generator loss
    d_lr: float = 1e-4  # SN-GAN only: discriminator learning rate (Adam, betas 0.5/0.999)


def _default_stages() -> dict[str, StageConfig]:
    return {
        "pretrain": StageConfig(epochs=10, lr=1e-4),
        "finetune_sn": StageConfig(epochs=2, lr=5e-5),
        "finetune_gan": StageConfig(epochs=2, lr=5e-5),
        "unet": StageConfig(epochs=10, lr=1e-3),
    }


STAGES = ("pretrain", "finetune_sn", "finetune_gan", "unet")


@dataclass
class TrainConfig:
    name: str = "teaching"
    seed: int = 0
    device: str = "auto"  # auto: cuda, then mps, then cpu
    output_dir: str = "runs/teaching"  # logs and resumable checkpoints
    checkpoint_dir: str = "checkpoints"  # final model checkpoints (shipped for the teaching run)
    threads: int | None = None  # torch CPU threads (None: torch's default)
    data: DataConfig = field(default_factory=DataConfig)
    sn: dict[str, Any] = field(default_factory=lambda: {"num_cascades": 5, "features": 16})
    unet: dict[str, Any] = field(default_factory=lambda: {"chans": 16, "num_pool_layers": 4})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"features": 32, "num_stages": 3})
    stages: dict[str, StageConfig] = field(default_factory=_default_stages)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key {where}.{unknown[0]} (known keys: {', '.join(sorted(known))})")
    return cls(**values)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a (possibly partial) nested dict; unknown keys raise."""
    values = dict(values or {})
    data = _build(DataConfig, values.pop("data", {}) or {}, "data")
    stage_values = values.pop("stages", {}) or {}
    if not isinstance(stage_values, dict):
        raise ConfigError("stages must be a mapping of stage name to settings")
    stages = _default_stages()
    for name, st in stage_values.items():
        if name not in STAGES:
            raise ConfigError(f"unknown config key stages.{name} (stages: {', '.join(STAGES)})")
        merged = dataclasses.asdict(stages[name]) | dict(st or {})
        stages[name] = _build(StageConfig, merged, f"stages.{name}")
    cfg = _build(TrainConfig, values, "config")
    cfg.data, cfg.stages = data, stages
    for key in ("sn", "unet", "discriminator"):
        if not isinstance(getattr(cfg, key), dict):
            raise ConfigError(f"{key} must be a mapping of model constructor arguments")
    return cfg


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config file; ``overrides`` (nested dict) are merged on top."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if overrides:
        values = _merge(values, overrides)
    try:
        return config_from_dict(values)
    except TypeError as err:
        raise ConfigError(f"{path}: {err}") from None
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k) or {}, v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
