"""Training configuration: plain YAML files mapped onto dataclasses with strict key checking.

A config file has the sections below; every key is optional (the defaults are the teaching
configuration) but an unknown key is an error naming it, so a typo never silently falls back
to a default. Every value is checked in one place, :func:`validate`, against its field's type
annotation and the range in the field's metadata (``min`` / ``gt`` / ``max``): ``epochs: 1.5``,
``lr: -1``, ``batch_size: 0`` or ``device: cuda`` on a machine without CUDA are errors naming the
key and the value, never a silently different run. The model sections (``sn``, ``unet``,
``discriminator``) are checked by building the models.

``configs/teaching.yaml`` is the shipped teaching run, ``configs/paper.yaml`` the paper's full
configuration (10 cascades, 320x320, 15 coils, 50 + 10 epochs).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from recon_lib.core.compute import Compute
from recon_lib.core.devices import select_device
from recon_lib.models.stages import RECIPE

__all__ = [
    "ConfigError",
    "DataConfig",
    "StageConfig",
    "TrainConfig",
    "STAGES",
    "LOSS_REGIONS",
    "ADVERSARIAL_SETTINGS",
    "SHIPPING_SETTINGS",
    "load_config",
    "config_from_dict",
    "parse_overrides",
]

#: the stages' names, in the recipe's order (:data:`recon_lib.models.stages.RECIPE`)
STAGES = tuple(stage.name for stage in RECIPE)
#: where ``L_SN`` is evaluated: the foreground mask (the paper's choice) or every pixel
LossRegion = Literal["foreground", "image"]
LOSS_REGIONS: tuple[str, ...] = typing.get_args(LossRegion)
#: the accelerations a run trains on by default (their centre fractions: each volume's prepared ones)
DEFAULT_ACCELERATIONS = (4, 8)


class ConfigError(ValueError):
    """A configuration file or dictionary is invalid."""


def _range(**bounds: float) -> dict[str, Any]:
    """Field metadata: ``min`` (>=), ``gt`` (>), ``max`` (<=), ``lt`` (<) bounds checked by :func:`validate`."""
    return {"range": bounds}


@dataclass
class DataConfig:
    root: str = "data/knee"  # prepared dataset folder with train/ val/ test/ subfolders
    # acceleration factors and their centre fractions, one each, in the same order. None: each volume's
    # own, the fractions its preparation derived and recorded (recon_lib.physics.masks.fastmri_center_fraction:
    # fastMRI's calibration band in cycles/mm; 0.08 / 0.04 for simulator-1 files); explicit fractions that
    # disagree with a volume's prepared ones are an error
    accelerations: list[float] = field(default_factory=lambda: list(DEFAULT_ACCELERATIONS), metadata=_range(min=1))
    center_fractions: list[float] | None = field(default=None, metadata=_range(gt=0, lt=1))
    num_workers: int = field(default=0, metadata=_range(min=0))  # DataLoader workers; 0 = the main process
    # validate on the first N val volumes (None: all)
    max_val_volumes: int | None = field(default=None, metadata=_range(min=1))


@dataclass
class StageConfig:
    epochs: int = field(default=1, metadata=_range(min=1))
    lr: float = field(default=1e-4, metadata=_range(gt=0))
    batch_size: int = field(default=1, metadata=_range(min=1))
    # cap for quick runs (None: the whole training split)
    max_steps_per_epoch: int | None = field(default=None, metadata=_range(min=1))
    # steps between resumable checkpoints (plus one at every epoch end)
    checkpoint_every: int = field(default=50, metadata=_range(min=1))
    gamma: float = field(default=0.1, metadata=_range(min=0))  # SN-GAN only: weight of L_SN in the generator loss
    # SN-GAN only: discriminator learning rate (Adam, betas d_betas); constant, whatever lr_schedule says
    d_lr: float = field(default=1e-4, metadata=_range(gt=0))
    # where L_SN is computed: the foreground (the paper) or every pixel (constrains the background too)
    loss_region: LossRegion = "foreground"
    # learning rate over the stage: constant, or cosine from lr down to 0 at the stage's last step
    # (counted from the end of the discriminator warm-up)
    lr_schedule: Literal["constant", "cosine"] = "constant"
    # SN-GAN only: the stage's first d_warmup_steps steps train the discriminator alone, on the outputs
    # of the starting model held fixed (the generator does not move); 0: the generator moves from step 1
    d_warmup_steps: int = field(default=0, metadata=_range(min=0))
    # SN-GAN only: discriminator steps per generator step after the warm-up (Σ-net: 5). Every step
    # takes the next batch and trains D on it; the generator also steps on every d_steps-th one
    d_steps: int = field(default=1, metadata=_range(min=1))
    # SN-GAN only: the discriminator's Adam betas (Σ-net's, DCGAN's: 0.5, 0.999)
    d_betas: list[float] = field(default_factory=lambda: [0.5, 0.999], metadata=_range(min=0, lt=1))
    # start from this checkpoint's model (and, for the SN-GAN, its discriminator when it ships one)
    # instead of the final checkpoint of the stage the recipe starts from (None: the recipe's)
    init_checkpoint: str | None = None
    # SN-GAN only: keep a snapshot of the generator (and discriminator) every snapshot_every steps after
    # the warm-up, and ship the last one the rule of recon_lib.training.selection accepts (validation
    # PSNR against the truth at most ship_psnr_budget_db below the starting SN's at every acceleration,
    # PD high-frequency energy over the truth's at most ship_hf_cap); None: ship the last epoch's weights
    snapshot_every: int | None = field(default=None, metadata=_range(min=1))
    ship_psnr_budget_db: float = field(default=1.0, metadata=_range(gt=0))
    ship_hf_cap: float = field(default=1.15, metadata=_range(gt=0))
    # SN-GAN only: also apply the rule at each acceleration alone and ship that acceleration's choice as
    # its own checkpoint (sn_gan_af<a>.pt, recon_lib.models.stages.Stage.checkpoint_for), beside the one
    # every acceleration accepts (sn_gan.pt): AF 8 moves several times slower than AF 4 (issue 28)
    ship_per_acceleration: bool = False


#: the settings only an adversarial stage reads (another stage refuses a value other than the default)
ADVERSARIAL_SETTINGS = (
    "gamma",
    "d_lr",
    "d_warmup_steps",
    "d_steps",
    "d_betas",
    "snapshot_every",
    "ship_psnr_budget_db",
    "ship_hf_cap",
    "ship_per_acceleration",
)

#: the settings of the shipping rule: it chooses among the snapshots after training and changes no step
#: of it, so a resume (and re-applying a changed rule to a finished run's snapshots) ignores them
SHIPPING_SETTINGS = ("ship_psnr_budget_db", "ship_hf_cap", "ship_per_acceleration")


def _default_stages() -> dict[str, StageConfig]:
    return {
        "pretrain": StageConfig(epochs=10, lr=1e-4),
        "finetune_sn": StageConfig(epochs=2, lr=5e-5),
        "finetune_gan": StageConfig(epochs=2, lr=5e-5),
        "unet": StageConfig(epochs=10, lr=1e-3),
    }


@dataclass
class TrainConfig:
    name: str = "teaching"
    seed: int = field(default=0, metadata=_range(min=0))
    device: str = "auto"  # auto: cuda, then mps, then cpu
    output_dir: str = "runs/teaching"  # logs and resumable checkpoints
    checkpoint_dir: str = "checkpoints"  # final model checkpoints (shipped for the teaching run)
    threads: int | None = field(default=None, metadata=_range(min=1))  # torch CPU threads (None: torch's default)
    data: DataConfig = field(default_factory=DataConfig)
    sn: dict[str, Any] = field(default_factory=lambda: {"num_cascades": 5, "features": 16})
    unet: dict[str, Any] = field(default_factory=lambda: {"chans": 16, "num_pool_layers": 4})
    discriminator: dict[str, Any] = field(default_factory=lambda: {"features": 32, "num_stages": 3})
    # precision and layout of the training steps (recon_lib.core.compute.Compute; validation is float32)
    compute: dict[str, Any] = field(default_factory=lambda: Compute().as_dict())
    stages: dict[str, StageConfig] = field(default_factory=_default_stages)

    @property
    def compute_settings(self) -> Compute:
        """:attr:`compute` as a :class:`~recon_lib.core.compute.Compute`."""
        return Compute.from_mapping(self.compute)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _build(cls: type, values: Any, where: str) -> Any:
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__} {values!r}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown config key {where}.{unknown[0]} (known keys: {', '.join(sorted(known))})")
    return cls(**values)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a :class:`TrainConfig` from a (possibly partial) nested dict; unknown keys raise.

    A section left empty (``data:`` with nothing under it) takes its defaults; a section of another
    type (``data: [...]``, ``stages: pretrain``) is an error naming it.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"the config must be a mapping of settings and sections, got {type(values).__name__}")
    values = dict(values)
    data_values = values.pop("data", None)
    data = _build(DataConfig, {} if data_values is None else data_values, "data")
    stage_values = values.pop("stages", None)
    if stage_values is None:
        stage_values = {}
    if not isinstance(stage_values, dict):
        raise ConfigError(
            f"stages must be a mapping of stage name to settings, got {type(stage_values).__name__} {stage_values!r}"
        )
    stages = _default_stages()
    for name, st in stage_values.items():
        if name not in STAGES:
            raise ConfigError(f"unknown config key stages.{name} (stages: {', '.join(STAGES)})")
        if st is not None and not isinstance(st, dict):
            raise ConfigError(f"stages.{name} must be a mapping of settings (epochs, lr, ...), got {st!r}")
        merged = dataclasses.asdict(stages[name]) | dict(st or {})
        stages[name] = _build(StageConfig, merged, f"stages.{name}")
    cfg = _build(TrainConfig, values, "config")
    cfg.data, cfg.stages = data, stages
    for key in ("sn", "unet", "discriminator"):
        if not isinstance(getattr(cfg, key), dict):
            raise ConfigError(f"{key} must be a mapping of model constructor arguments")
    if not isinstance(cfg.compute, dict):
        raise ConfigError(f"compute must be a mapping (precision, channels_last), got {cfg.compute!r}")
    try:
        cfg.compute = Compute.from_mapping(cfg.compute).as_dict()
    except ValueError as err:
        raise ConfigError(f"compute: {err}") from err
    validate(cfg)
    return cfg


# ---- validation: one place for every setting's type and range ---------------------------------------
def validate(cfg: TrainConfig) -> None:
    """Raise :class:`ConfigError` naming the first setting whose type or range is wrong."""
    _check_fields(cfg, "")
    _check_fields(cfg.data, "data.")
    for name, st in cfg.stages.items():
        _check_fields(st, f"stages.{name}.")
        _check_stage(name, st)
    if len(cfg.data.accelerations) == 0:
        raise ConfigError("data.accelerations must list at least one acceleration")
    if cfg.data.center_fractions is not None and len(cfg.data.center_fractions) != len(cfg.data.accelerations):
        raise ConfigError(
            f"data.center_fractions {cfg.data.center_fractions} must give one centre fraction per acceleration "
            f"in data.accelerations {cfg.data.accelerations}"
        )
    if not cfg.name.strip():
        raise ConfigError("name must be a non-empty string")
    try:
        select_device(cfg.device)
    except ValueError as err:
        raise ConfigError(f"device: {err}") from None
    from recon_lib.models.checkpoint import CheckpointError, build_model

    # each stage's model section (sn, unet) and the SN-GAN stage's discriminator
    models = {stage.model_section: stage.model_class for stage in RECIPE}
    models.update(("discriminator", stage.discriminator) for stage in RECIPE if stage.discriminator is not None)
    for key, cls in models.items():
        try:
            build_model(cls, dict(getattr(cfg, key)))
        except (CheckpointError, ValueError, TypeError) as err:
            raise ConfigError(f"{key}: {str(err).replace('model_config does not fit', 'does not fit')}") from None


def _check_stage(name: str, st: StageConfig) -> None:
    """The settings of stage ``name`` that no single field's type and range can check."""
    if len(st.d_betas) != 2:
        raise ConfigError(f"stages.{name}.d_betas must be two numbers [beta1, beta2], got {st.d_betas!r}")
    if st.init_checkpoint is not None and not st.init_checkpoint.strip():
        raise ConfigError(f"stages.{name}.init_checkpoint must name a checkpoint file, got {st.init_checkpoint!r}")
    if st.ship_per_acceleration and st.snapshot_every is None:
        raise ConfigError(
            f"stages.{name}.ship_per_acceleration needs snapshots to choose from: set stages.{name}.snapshot_every"
        )
    if next(stage for stage in RECIPE if stage.name == name).adversarial:
        return
    default = StageConfig()
    for key in ADVERSARIAL_SETTINGS:
        if getattr(st, key) != getattr(default, key):
            adversarial = ", ".join(stage.name for stage in RECIPE if stage.adversarial)
            raise ConfigError(
                f"stages.{name}.{key} is {getattr(st, key)!r}, but {key} applies only to the adversarial "
                f"stage ({adversarial}); {name} trains no discriminator"
            )


def _check_fields(obj: Any, prefix: str) -> None:
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = prefix + f.name
        _check_type(key, value, hints[f.name])
        bounds = f.metadata.get("range")
        if bounds and value is not None:
            for item in value if isinstance(value, list) else [value]:
                _check_range(key, item, bounds)


def _check_type(key: str, value: Any, hint: Any) -> None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        (hint,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        for i, item in enumerate(value):
            _check_type(f"{key}[{i}]", item, args[0])
        return
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{key} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return
    if dataclasses.is_dataclass(hint):
        return  # a section: validate() checks its fields
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
        str: isinstance(value, str),
        bool: isinstance(value, bool),
    }.get(hint)
    if ok is None:
        raise TypeError(f"no validation rule for {key} of type {hint}")  # a new setting needs a rule here
    if not ok:
        kind = {int: "an integer", float: "a finite number", str: "a string", bool: "true or false"}[hint]
        raise ConfigError(f"{key} must be {kind}, got {value!r}")


def _check_range(key: str, value: float, bounds: dict[str, float]) -> None:
    rules = {"min": (lambda v, b: v >= b, ">="), "gt": (lambda v, b: v > b, ">"), "max": (lambda v, b: v <= b, "<=")}
    rules["lt"] = (lambda v, b: v < b, "<")
    for name, bound in bounds.items():
        holds, sign = rules[name]
        if not holds(value, bound):
            raise ConfigError(f"{key} must be {sign} {bound:g}, got {value!r}")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads YAML 1.2 floats: ``1e-3``, ``5e-5``, ``1E-4``, ``-1e-3``, ``1.0e3``.

    PyYAML follows YAML 1.1, where a float needs a dot and a signed exponent, so ``lr: 1e-3`` would
    be the string ``'1e-3'``. The resolver is added to this subclass only (no global change to yaml).
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _yaml(text: str) -> Any:
    """Parse YAML text with :class:`_Loader` (safe: plain data only)."""
    return yaml.load(text, Loader=_Loader)  # a SafeLoader: no arbitrary objects


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config file; ``overrides`` (nested dict) are merged on top."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = _yaml(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    try:
        if overrides:
            values = _merge(values, overrides)
        return config_from_dict(values)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _merge(base: Any, extra: dict, where: str = "") -> dict:
    """``extra`` (the ``--set`` overrides) merged into ``base`` (the file's values), key by key.

    A section the file gives as something other than a mapping (``data: [...]``, ``stages: x``) is
    an error naming it even when an override reaches inside it, never silently replaced.
    """
    if base is None:
        base = {}
    if not isinstance(base, dict):
        raise ConfigError(f"{where.rstrip('.') or 'the config'} must be a mapping, got {type(base).__name__} {base!r}")
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out.get(k), v, f"{where}{k}.") if isinstance(v, dict) else v
    return out


# ---- overrides on the command line: --set key.path=value ------------------------------------------
def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["stages.pretrain.lr=1e-4", ...]`` -> the nested dict :func:`load_config` merges on top.

    Example:
        >>> parse_overrides(["stages.pretrain.lr=1e-4", "device=cpu"])
        {'stages': {'pretrain': {'lr': 0.0001}}, 'device': 'cpu'}
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key.path=value, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.split(".")
        for i, p in enumerate(parts[:-1]):
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item}: {'.'.join(parts[: i + 1])} is set to a value by another --set")
        node[parts[-1]] = _scalar(_yaml(value))
    return out


def _scalar(value: Any) -> Any:
    """YAML reads ``1e-4`` (no dot) as a string; a number written on the command line is a number."""
    if isinstance(value, str):
        for convert in (int, float):
            try:
                return convert(value)
            except ValueError:
                pass
    return value
