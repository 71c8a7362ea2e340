"""The paper's training recipe, resumable, on CPU, CUDA/MPS or several processes.

Stages (Qin et al., Sec. 3; the settings of Sigma-net's reference code, khammernik/sigmanet):

1. ``pretrain``     -- SN trained with L_SN = (1 - foreground SSIM) + lambda L1, RMSProp, lr 1e-4
   (lambda = 1e-3; L1 summed over the foreground in units of the data range, Sigma-net's
   convention, see :mod:`recon_lib.metrics.losses`).
2. ``finetune_sn``  -- from the pre-trained SN, L_SN again, lr 5e-5.
3. ``finetune_gan`` -- from the *same* pre-trained SN, gamma L_SN + LSGAN on foreground-masked
   magnitudes, lr 5e-5, PatchGAN discriminator (Adam). Stages 2 and 3 share their
   initialisation, which is what makes parameter-space interpolation meaningful.
4. ``unet``         -- the U-Net baseline on the zero-filled SENSE image, same data and split.

Usage::

    python -m recon_lib.train --config configs/teaching.yaml            # every stage
    python -m recon_lib.train --config configs/teaching.yaml --stage unet
    torchrun --nproc_per_node=2 -m recon_lib.train --config configs/tiny.yaml

Re-running the same command after an interruption continues from the last resumable checkpoint
(``<output_dir>/<stage>/last.pt``); finished stages (``<checkpoint_dir>/<name>.pt``) are skipped.
On CPU with fixed seeds an interrupted-and-resumed run ends with the same weights as an
uninterrupted one: model initialisation, data order and masks are all functions of
``(seed, epoch, index)``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.utils.data import DataLoader

from recon_lib.core.compute import Compute
from recon_lib.core.devices import select_device
from recon_lib.data.dataset import DatasetNotPreparedError, KneeDataset
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.data.provenance import dataset_record
from recon_lib.metrics.quality import volume_metrics
from recon_lib.models.checkpoint import (
    CheckpointError,
    build_model,
    load_checkpoint,
    load_state_into,
    save_checkpoint,
    stored_discriminator,
)
from recon_lib.models.inference import reconstruct
from recon_lib.models.stages import get_stage
from recon_lib.physics.masks import MaskFunc
from recon_lib.training.config import (
    SHIPPING_SETTINGS,
    STAGES,
    ConfigError,
    StageConfig,
    TrainConfig,
    load_config,
    parse_overrides,
)
from recon_lib.training.discriminator_check import chance_warning, discriminator_check
from recon_lib.training.runtime import Processes, RunLog, ShapeBatchSampler
from recon_lib.training.selection import last_qualifying, last_qualifying_per_acceleration, snapshot_scores
from recon_lib.training.steps import (
    L1_WEIGHT,
    Learner,
    TrainingError,
    generator_moves,
    set_learning_rate,
    training_step,
)

__all__ = ["TrainingError", "run_stage", "run_pipeline", "main"]


# ---- data ---------------------------------------------------------------------------------------
def _split_dir(cfg: TrainConfig, split: str) -> Path:
    root = Path(cfg.data.root)
    path = root / split
    if not root.is_dir():
        raise ConfigError(
            f"data folder {root} does not exist: generate and prepare it first "
            "(make data, or data_scripts/make_knee_dataset.py + prepare_dataset.py)"
        )
    if not path.is_dir():
        raise ConfigError(f"data folder {root} has no {split}/ split folder")
    return path


def _mask_func(cfg: TrainConfig) -> MaskFunc:
    return MaskFunc(cfg.data.accelerations, cfg.data.center_fractions, kind="random")


def make_train_dataset(cfg: TrainConfig) -> KneeDataset:
    ds = KneeDataset(_split_dir(cfg, "train"), mask_func=_mask_func(cfg), train=True, seed=cfg.seed)
    if len(ds) == 0:
        raise ConfigError(
            f"{_split_dir(cfg, 'train')} holds no prepared volumes: run prepare_dataset.py on {cfg.data.root}"
        )
    return ds


def sample_shapes(dataset: KneeDataset) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Each sample's ``(k-space shape, target shape)``: the samples a batch may stack together
    (fastMRI volumes differ in width; the shapes are the volumes', read when the dataset opened)."""
    return [(dataset.volumes[v].kspace_shape, dataset.volumes[v].recon_size) for v, _ in dataset.examples]


def make_val_dataset(cfg: TrainConfig) -> KneeDataset:
    return KneeDataset(
        _split_dir(cfg, "val"),
        mask_func=_mask_func(cfg),
        train=False,
        seed=cfg.seed,
        limit_volumes=cfg.data.max_val_volumes,
    )


# ---- models --------------------------------------------------------------------------------------
def _stage_model(cfg: TrainConfig, stage: str) -> tuple[str, dict[str, Any]]:
    """The model class a stage trains and its constructor arguments (the stage's config section)."""
    record = get_stage(stage)
    return record.model_class, dict(getattr(cfg, record.model_section))


def _training_loss(region: str) -> str:
    """The ``L_SN`` a stage trains with, as recorded in its checkpoints' settings (``lam`` = ``steps.L1_WEIGHT``).

    Example:
        >>> _training_loss("foreground")
        "sn_loss(mask=foreground, lam=1e-3, l1_reduction='sum')"
    """
    return f"sn_loss(mask={region}, lam={_scientific(L1_WEIGHT)}, l1_reduction='sum')"


def _scientific(value: float) -> str:
    """``value`` in the short scientific notation the recorded settings use: ``1e-3``, ``2.5e-4``."""
    mantissa, exponent = f"{value:e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _same_settings(stored: Any, current: dict[str, Any], *, training_only: bool = False) -> bool:
    """Whether a checkpoint's recorded settings are ``current``. A stage option added after the
    checkpoint was written counts as its default (the only behaviour that existed then).
    ``training_only``: leave the shipping rule out (:data:`SHIPPING_SETTINGS`): it changes no training
    step, so a run may resume, or re-apply a changed rule to its snapshots, under another one."""
    if not isinstance(stored, dict):
        return False
    stored, current = dict(stored), dict(current)
    if isinstance(stored.get("stage_config"), dict):
        stored["stage_config"] = asdict(StageConfig()) | stored["stage_config"]
    stored.setdefault("compute", Compute.fp32().as_dict())  # before the compute setting: float32
    if training_only:
        for settings in (stored, current):
            if isinstance(settings.get("stage_config"), dict):
                settings["stage_config"] = {
                    k: v for k, v in settings["stage_config"].items() if k not in SHIPPING_SETTINGS
                }
    return stored == current


@torch.inference_mode()
def validate(model: nn.Module, dataset: KneeDataset, device: torch.device) -> dict[str, float]:
    """Mean foreground NMSE / PSNR / SSIM over the validation volumes (fastMRI per-volume convention)."""
    model.eval()
    preds: dict[str, list] = defaultdict(list)
    gts: dict[str, list] = defaultdict(list)
    fgs: dict[str, list] = defaultdict(list)
    loader = DataLoader(dataset, batch_size=1, shuffle=False)
    for batch in loader:
        rec = reconstruct(model, batch, device).abs().cpu()
        name = batch["fname"][0]
        preds[name].append(rec[0].numpy())
        gts[name].append(batch["target"][0].numpy())
        fgs[name].append(batch["foreground"][0].numpy())
    rows = [volume_metrics(np.stack(gts[n]), np.stack(preds[n]), mask=np.stack(fgs[n])) for n in preds]
    model.train()
    return {k: float(np.mean([r[k] for r in rows])) for k in ("nmse", "psnr", "ssim")} if rows else {}


# ---- one stage ----------------------------------------------------------------------------------
def _stage_settings(cfg: TrainConfig, stage: str) -> dict[str, Any]:
    """What defines a stage's result: used to check that a resume / skip matches the config."""
    model_class, model_config = _stage_model(cfg, stage)
    out = {
        "stage": stage,
        "seed": cfg.seed,
        "model_class": model_class,
        "model_config": model_config,
        "stage_config": asdict(cfg.stages[stage]),
        "data": asdict(cfg.data) | {"num_workers": None},
        "loss": _training_loss(cfg.stages[stage].loss_region),
        "compute": cfg.compute_settings.as_dict(),
    }
    if get_stage(stage).adversarial:
        out["discriminator"] = dict(cfg.discriminator)
    return out


@dataclass
class _StageRun:
    """Everything one stage's loop reads and updates (its position is what ``last.pt`` stores)."""

    cfg: TrainConfig
    stage: str
    device: torch.device
    dist: Processes
    settings: dict[str, Any]
    model: nn.Module  # the bare model (the learner may hold its DDP wrapper)
    disc: nn.Module | None  # the bare discriminator of an adversarial stage
    learner: Learner
    train_set: KneeDataset
    val_set: KneeDataset
    sampler: ShapeBatchSampler
    steps_per_epoch: int
    log: RunLog
    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    elapsed: float = 0.0  # training seconds before this call
    started: float = field(default_factory=time.time)
    val: dict[str, float] = field(default_factory=dict)  # validation metrics of the current weights
    best_val: dict[str, float] = field(default_factory=dict)  # the best validation PSNR so far, with its epoch
    d_val: dict[str, Any] = field(default_factory=dict)  # the discriminator's last held-out check
    warnings: list[str] = field(default_factory=list)  # what the run warned about (the summary repeats it)
    # the data trained on (recon_lib.data.provenance.dataset_record): the evaluation and the explorers
    # warn when a checkpoint meets other data (data_mismatch)
    dataset: dict[str, Any] = field(default_factory=dict)
    # the shipping rule's choice among the snapshots (recon_lib.training.selection), when the stage keeps them
    selection: dict[str, Any] = field(default_factory=dict)

    @property
    def stage_cfg(self) -> StageConfig:
        return self.cfg.stages[self.stage]

    @property
    def last_path(self) -> Path:
        return Path(self.cfg.output_dir) / self.stage / "last.pt"

    @property
    def final_path(self) -> Path:
        return get_stage(self.stage).checkpoint_path(self.cfg.checkpoint_dir)

    @property
    def snapshot_dir(self) -> Path:
        return Path(self.cfg.output_dir) / self.stage / "snapshots"

    def snapshot_due(self) -> bool:
        """Whether the step just taken ends with a snapshot (adversarial stages with ``snapshot_every``):
        the end of the warm-up (the starting generator), every ``snapshot_every`` steps after it, the last step."""
        st = self.stage_cfg
        if self.disc is None or st.snapshot_every is None or self.global_step < st.d_warmup_steps:
            return False
        return (self.global_step - st.d_warmup_steps) % st.snapshot_every == 0 or self.global_step == self.total_steps

    @property
    def total_steps(self) -> int:
        return self.stage_cfg.epochs * self.steps_per_epoch

    def wall_time(self) -> float:
        return self.elapsed + time.time() - self.started

    def metadata(self) -> dict[str, Any]:
        meta = {
            "stage": self.stage,
            "epoch": self.epoch,
            "step": self.global_step,
            "settings": self.settings,
            "val": self.val,
            "best_val": self.best_val,
            "dataset": self.dataset,
        }
        if self.disc is not None:
            meta |= {"d_val": self.d_val, "warnings": self.warnings}
        if self.selection:
            meta["selection"] = self.selection
        return meta


def run_stage(cfg: TrainConfig, stage: str, *, force: bool = False, progress: bool = True) -> Path:
    """Train one stage (or skip it when its final checkpoint already matches the config).

    The loop: set up (models, optimisers, data) -> resume from ``last.pt`` if there is one ->
    per epoch: train, validate, save ``last.pt`` -> save the final checkpoint. The final weights are
    the last epoch's (a rule fixed before training, never "the best validation epoch", which for the
    SN-GAN would pick the least adversarial one); the metadata records the last and the best
    validation metrics.

    Args:
        cfg: the training configuration.
        stage: one of ``STAGES``.
        force: retrain even when a final checkpoint with different settings exists.
        progress: show tqdm progress bars.

    Returns:
        Path of the stage's final checkpoint.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    final_path = get_stage(stage).checkpoint_path(cfg.checkpoint_dir)
    if _already_trained(final_path, _stage_settings(cfg, stage), force) and _per_acceleration_shipped(cfg, stage):
        return final_path
    run = _set_up(cfg, stage)
    _resume(run)
    while run.epoch < run.stage_cfg.epochs:
        _train_epoch(run, progress)
        _end_epoch(run)
    _finalise(run)
    return final_path


def _already_trained(final_path: Path, settings: dict[str, Any], force: bool) -> bool:
    """True when ``final_path`` holds this stage trained with ``settings``; refuses other settings unless ``force``."""
    if not final_path.exists():
        return False
    if _same_settings(load_checkpoint(final_path)["metadata"].get("settings"), settings):
        return True
    if not force:
        raise CheckpointError(
            f"{final_path} was trained with other settings than this config; delete it or pass --force to retrain"
        )
    return False


def _per_acceleration_paths(cfg: TrainConfig, stage: str) -> dict[float, Path]:
    """The per-acceleration checkpoints the stage ships (``ship_per_acceleration`` with snapshots to
    choose from; none otherwise)."""
    st = cfg.stages[stage]
    if not (st.ship_per_acceleration and st.snapshot_every is not None):
        return {}
    return {af: get_stage(stage).checkpoint_path(cfg.checkpoint_dir, af) for af in cfg.data.accelerations}


def _per_acceleration_shipped(cfg: TrainConfig, stage: str) -> bool:
    """Whether the checkpoint folder holds exactly the per-acceleration checkpoints the config ships
    (a missing one, or a stale one of an earlier rule that would serve its acceleration, is not)."""
    record = get_stage(stage)
    if not record.adversarial:
        return True
    expected = set(_per_acceleration_paths(cfg, stage).values())
    found = set(record.per_acceleration_checkpoints(cfg.checkpoint_dir))
    return found == expected


def _set_up(cfg: TrainConfig, stage: str) -> _StageRun:
    """Models (from the stage's initialisation), optimisers, data and sampler of a fresh stage."""
    device = select_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dist = Processes(device)
    st = cfg.stages[stage]
    record = get_stage(stage)
    torch.manual_seed(cfg.seed + STAGES.index(stage))
    model = build_model(*_stage_model(cfg, stage)).to(device)
    disc: nn.Module | None = None
    d_optimiser: torch.optim.Optimizer | None = None
    if record.discriminator is not None:
        disc = build_model(record.discriminator, dict(cfg.discriminator)).to(device)
        d_optimiser = torch.optim.Adam(
            disc.parameters(), lr=st.d_lr, betas=(st.d_betas[0], st.d_betas[1]), foreach=True
        )
    _initial_weights(cfg, stage, model, disc)
    compute = cfg.compute_settings
    compute.prepare(model)
    if disc is not None:
        compute.prepare(disc)
    learner = Learner(
        model=model,
        # foreach: one kernel per update over every tensor (~1.3x a per-tensor loop on the CPU, same values)
        optimiser=torch.optim.RMSprop(model.parameters(), lr=st.lr, foreach=True),
        loss_region=st.loss_region,
        disc=disc,
        d_optimiser=d_optimiser,
        gamma=st.gamma,
        compute=compute,
    )
    train_set = make_train_dataset(cfg)
    sampler = ShapeBatchSampler(sample_shapes(train_set), st.batch_size, cfg.seed, dist.rank, dist.world)
    steps_per_epoch = sampler.num_batches
    if st.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, st.max_steps_per_epoch)
    _check_generator_steps(stage, st, steps_per_epoch)
    return _StageRun(
        cfg=cfg,
        stage=stage,
        device=device,
        dist=dist,
        settings=_stage_settings(cfg, stage),
        dataset=dataset_record(cfg.data.root),
        model=model,
        disc=disc,
        learner=learner,
        train_set=train_set,
        val_set=make_val_dataset(cfg),
        sampler=sampler,
        steps_per_epoch=steps_per_epoch,
        log=RunLog(Path(cfg.output_dir) / stage / "log.jsonl", dist.main),
    )


def _initial_weights(cfg: TrainConfig, stage: str, model: nn.Module, disc: nn.Module | None) -> None:
    """Load the weights a stage starts from: ``init_checkpoint`` when the stage names one (its
    discriminator too, when it ships one), else the final checkpoint of the recipe's ``init_from``
    stage; a stage with neither starts from its fresh initialisation."""
    record, given = get_stage(stage), cfg.stages[stage].init_checkpoint
    if given is not None:
        path = Path(given)
    elif record.init_from is not None:
        path = get_stage(record.init_from).checkpoint_path(cfg.checkpoint_dir)
    else:
        return
    ckpt = load_checkpoint(path, map_location="cpu")
    if ckpt["model_class"] != record.model_class:
        raise CheckpointError(f"{path} holds a {ckpt['model_class']}; stage {stage} trains a {record.model_class}")
    load_state_into(model, ckpt["state_dict"], str(path))
    if given is None or disc is None or "discriminator" not in ckpt:
        return  # a fresh discriminator (the recipe's start, or a checkpoint that ships none)
    entry = stored_discriminator(ckpt, path)
    if entry["model_config"] != getattr(disc, "config", None):
        raise CheckpointError(
            f"{path} ships a {entry['model_class']} {entry['model_config']}, but the config's discriminator "
            f"section builds {getattr(disc, 'config', None)}: set discriminator to the checkpoint's to continue it"
        )
    load_state_into(disc, entry["state_dict"], f"{path} (discriminator)")


def _check_generator_steps(stage: str, st: StageConfig, steps_per_epoch: int) -> None:
    """Refuse a discriminator warm-up / ``d_steps`` that would leave the generator no step in the stage."""
    total = st.epochs * steps_per_epoch
    if not any(generator_moves(st, k) for k in range(st.d_warmup_steps, min(total, st.d_warmup_steps + st.d_steps))):
        raise ConfigError(
            f"stages.{stage}.d_warmup_steps = {st.d_warmup_steps} with d_steps = {st.d_steps} leaves the generator "
            f"no step: the stage has {total} steps ({st.epochs} epoch(s) of {steps_per_epoch}); "
            "lower d_warmup_steps or d_steps, or raise epochs"
        )


def _resume(run: _StageRun) -> None:
    """Continue from ``last.pt`` when it exists (weights, optimisers, RNG, position), then wrap for DDP."""
    learner = run.learner
    if run.last_path.exists():
        ckpt = load_checkpoint(run.last_path)
        if not _same_settings(ckpt["metadata"].get("settings"), run.settings, training_only=True):
            raise CheckpointError(
                f"{run.last_path} is a resumable checkpoint of other settings (another config or architecture); "
                f"delete {run.last_path.parent} to start this stage afresh"
            )
        load_state_into(run.model, ckpt["state_dict"], str(run.last_path))
        ts = ckpt["training_state"]
        learner.optimiser.load_state_dict(ts["optimiser"])
        if learner.disc is not None and learner.d_optimiser is not None:
            load_state_into(learner.disc, ts["discriminator"], f"{run.last_path} (discriminator)")
            learner.d_optimiser.load_state_dict(ts["d_optimiser"])
        torch.set_rng_state(ts["torch_rng"])
        run.epoch, run.step_in_epoch, run.global_step = ts["epoch"], ts["step_in_epoch"], ts["global_step"]
        run.elapsed = ts["elapsed"]
        run.val = ckpt["metadata"].get("val", {})
        run.best_val = ckpt["metadata"].get("best_val", {})
        run.d_val = ckpt["metadata"].get("d_val", {})
        run.warnings = list(ckpt["metadata"].get("warnings", []))
        run.log.trim(run.global_step)
    if run.dist.enabled:
        learner.model = nn.parallel.DistributedDataParallel(run.model)
        if learner.disc is not None:
            learner.disc = nn.parallel.DistributedDataParallel(learner.disc)
    run.started = time.time()
    run.model.train()


def _save_last(run: _StageRun) -> None:
    """The resumable checkpoint: weights, optimisers, RNG state and position in the epoch."""
    if not run.dist.main:
        return
    learner = run.learner
    ts: dict[str, Any] = {
        "optimiser": learner.optimiser.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "epoch": run.epoch,
        "step_in_epoch": run.step_in_epoch,
        "global_step": run.global_step,
        "elapsed": run.wall_time(),
    }
    if run.disc is not None and learner.d_optimiser is not None:
        ts["discriminator"] = {k: v.detach().cpu() for k, v in run.disc.state_dict().items()}
        ts["d_optimiser"] = learner.d_optimiser.state_dict()
    save_checkpoint(run.last_path, run.model, run.metadata(), training_state=ts)


def _train_epoch(run: _StageRun, progress: bool) -> None:
    """The remaining steps of the current epoch (all of them unless resumed mid-epoch)."""
    from tqdm.auto import tqdm

    st = run.stage_cfg
    run.train_set.set_epoch(run.epoch)
    run.sampler.set_position(run.epoch, run.step_in_epoch)
    loader = DataLoader(run.train_set, batch_sampler=run.sampler, num_workers=run.cfg.data.num_workers)
    with tqdm(
        total=run.steps_per_epoch,
        initial=run.step_in_epoch,
        desc=f"{run.stage} epoch {run.epoch + 1}/{st.epochs}",
        disable=not (progress and run.dist.main),
        leave=False,
        dynamic_ncols=True,
    ) as bar:
        for batch in loader:
            if run.step_in_epoch >= run.steps_per_epoch:
                break
            record = _step(run, batch)
            bar.set_postfix(loss=f"{record.get('loss', record.get('d_loss', math.nan)):.4f}")
            bar.update(1)
            if run.disc is not None and run.global_step == st.d_warmup_steps < run.total_steps:
                if run.step_in_epoch < run.steps_per_epoch:  # an epoch's end checks anyway
                    _check_discriminator(run, "d_warmup_end")
            if run.snapshot_due():
                _snapshot(run)
            if run.global_step % st.checkpoint_every == 0:
                _save_last(run)


def _step(run: _StageRun, batch: dict[str, Any]) -> dict[str, float]:
    """One training step at the run's position: learning rate, the step (the generator's or the
    discriminator's alone), position and log."""
    st = run.stage_cfg
    set_learning_rate(run.learner.optimiser, st, run.global_step, run.total_steps)
    moves = run.disc is None or generator_moves(st, run.global_step)
    try:
        record = training_step(run.learner, batch, run.device, generator_step=moves)
    except TrainingError as err:
        kept = run.last_path if run.last_path.exists() else "(none yet)"
        raise TrainingError(
            f"{err} in stage {run.stage}, epoch {run.epoch + 1}, step {run.global_step + 1}; "
            f"stopped -- the last good checkpoint is kept at {kept}"
        ) from None
    run.step_in_epoch += 1
    run.global_step += 1
    lr = run.learner.optimiser.param_groups[0]["lr"]
    phase = {} if moves else {"phase": "d_warmup" if run.global_step <= st.d_warmup_steps else "d_only"}
    run.log.write(stage=run.stage, epoch=run.epoch, step=run.global_step, lr=lr, **phase, **record)
    return record


def _check_discriminator(run: _StageRun, when: str) -> None:
    """The discriminator's held-out check (main process): logged, kept in the metadata, and a
    warning in the log, on stderr and in the run summary when it is at chance after the warm-up."""
    if run.disc is None or not run.dist.main or run.d_val.get("step") == run.global_step:
        return  # no discriminator, another process, or this step was checked already
    result = discriminator_check(run.disc, run.model, run.val_set, run.device)
    run.log.write(stage=run.stage, epoch=run.epoch, step=run.global_step, type="d_val", at=when, **result)
    run.d_val = result | {"step": run.global_step, "at": when}
    message = chance_warning(run.stage, run.global_step, run.d_val, run.stage_cfg.d_warmup_steps)
    if message is not None:
        run.warnings.append(message)
        run.log.write(stage=run.stage, epoch=run.epoch, step=run.global_step, type="warning", message=message)
        warnings.warn(message, RuntimeWarning, stacklevel=2)


def _snapshot(run: _StageRun) -> None:
    """Keep the generator and discriminator of this step (``snapshots/step_NNNNN.pt``) with the
    discriminator's held-out check: the candidates the shipping rule chooses from."""
    if not run.dist.main:
        return
    _check_discriminator(run, "snapshot")
    path = run.snapshot_dir / f"step_{run.global_step:05d}.pt"
    save_checkpoint(path, run.model, run.metadata(), discriminator=run.disc)
    run.log.write(stage=run.stage, epoch=run.epoch, step=run.global_step, type="snapshot", path=path.name)


def _snapshots(run: _StageRun) -> dict[int, Path]:
    """The run's snapshots by step (those of this run's schedule only)."""
    found = {int(p.stem.removeprefix("step_")): p for p in run.snapshot_dir.glob("step_*.pt")}
    return {step: found[step] for step in sorted(found) if step <= run.total_steps}


def _select_snapshot(run: _StageRun) -> None:
    """Apply the shipping rule (:mod:`recon_lib.training.selection`) and load the chosen snapshot
    into the run's model and discriminator; the scores of every snapshot go to the log and metadata."""
    st = run.stage_cfg
    paths = _snapshots(run)
    if not paths:
        raise TrainingError(f"stage {run.stage} kept no snapshot in {run.snapshot_dir}: nothing to ship")
    start = build_model(*_stage_model(run.cfg, run.stage)).to(run.device)
    _initial_weights(run.cfg, run.stage, start, None)
    models = {}
    for step, path in paths.items():
        models[step] = build_model(*_stage_model(run.cfg, run.stage)).to(run.device)
        load_state_into(models[step], load_checkpoint(path, map_location="cpu")["state_dict"], str(path))
    scores = snapshot_scores(_split_dir(run.cfg, "val"), start, models, run.cfg.data.accelerations, device=run.device)
    run.log.trim(run.global_step, drop_types=("selection", "shipped"))  # a rule applied again replaces its rows
    for step, by_af in scores.items():
        run.log.write(
            stage=run.stage,
            epoch=run.epoch,
            step=step,
            type="selection",
            scores={str(af): s for af, s in by_af.items()},
        )
    chosen = last_qualifying(scores, psnr_budget_db=st.ship_psnr_budget_db, hf_cap=st.ship_hf_cap)
    if chosen is None:
        table = "; ".join(
            f"step {step}: " + ", ".join(f"AF {af:g} {s['dpsnr']:+.2f} dB HF {s['hf']:.2f}" for af, s in by_af.items())
            for step, by_af in scores.items()
        )
        raise TrainingError(
            f"stage {run.stage}: no snapshot is within {st.ship_psnr_budget_db} dB of the starting SN with PD HF "
            f"ratio <= {st.ship_hf_cap} at every acceleration, so none ships ({table})"
        )
    ckpt = load_checkpoint(paths[chosen], map_location="cpu")
    load_state_into(run.model, ckpt["state_dict"], str(paths[chosen]))
    if run.disc is not None:
        load_state_into(run.disc, stored_discriminator(ckpt, paths[chosen])["state_dict"], str(paths[chosen]))
    run.d_val = ckpt["metadata"].get("d_val", {})
    run.val = validate(run.model, run.val_set, run.device)
    run.selection = {
        "rule": {"psnr_budget_db": st.ship_psnr_budget_db, "hf_cap": st.ship_hf_cap},
        "shipped_step": chosen,
        "scores": {str(step): {str(af): s for af, s in by_af.items()} for step, by_af in scores.items()},
    }
    if st.ship_per_acceleration:
        per_af = last_qualifying_per_acceleration(scores, psnr_budget_db=st.ship_psnr_budget_db, hf_cap=st.ship_hf_cap)
        run.selection["rule"]["per_acceleration"] = True
        # every acceleration has a choice: the joint one qualifies at each, so each one is at least as late
        run.selection["per_acceleration"] = {f"{af:g}": step for af, step in per_af.items()}
    run.log.write(stage=run.stage, epoch=run.epoch, step=chosen, type="shipped", **run.val)


def _end_epoch(run: _StageRun) -> None:
    """Validate the epoch's weights, keep the best metrics, save ``last.pt``."""
    run.epoch, run.step_in_epoch = run.epoch + 1, 0
    if run.dist.main:
        run.val = validate(run.model, run.val_set, run.device)
        if run.val and run.val["psnr"] > run.best_val.get("psnr", -math.inf):
            run.best_val = {**run.val, "epoch": run.epoch}
        run.log.write(stage=run.stage, epoch=run.epoch, step=run.global_step, type="val", **run.val)
        _check_discriminator(run, "epoch_end")
    run.dist.barrier()
    _save_last(run)


def _finalise(run: _StageRun) -> None:
    """The stage's final checkpoint (the last epoch's weights) with its provenance."""
    if run.dist.main:
        cfg = run.cfg
        if run.stage_cfg.snapshot_every is not None and run.disc is not None:
            _select_snapshot(run)
        meta = run.metadata() | {
            "wall_time_s": round(run.wall_time(), 1),
            "data_seed": cfg.seed,
            "accelerations": list(cfg.data.accelerations),
            "device": str(run.device),
            "world_size": run.dist.world,
            "torch": torch.__version__,
            "train_config": cfg.to_dict(),
        }
        save_checkpoint(run.final_path, run.model, meta, discriminator=run.disc)
        _ship_per_acceleration(run, meta)
    run.dist.barrier()


def _ship_per_acceleration(run: _StageRun, meta: dict[str, Any]) -> None:
    """With ``ship_per_acceleration``: each acceleration's choice of the rule as its own checkpoint
    (``<stem>_af<a>.pt``: its snapshot's generator and discriminator, validated, ``shipped_for`` a).
    Without it: remove per-acceleration checkpoints of an earlier rule, which would otherwise serve
    their acceleration (:meth:`~recon_lib.models.stages.Stage.checkpoint_for`)."""
    record = get_stage(run.stage)
    wanted = _per_acceleration_paths(run.cfg, run.stage)
    for stale in set(record.per_acceleration_checkpoints(run.cfg.checkpoint_dir)) - set(wanted.values()):
        stale.unlink()
    if not wanted:
        return
    selection, snapshots = run.selection, _snapshots(run)
    for af, path in wanted.items():
        step = selection["per_acceleration"][f"{af:g}"]
        snapshot = snapshots[step]
        ckpt = load_checkpoint(snapshot, map_location="cpu")
        model = build_model(*_stage_model(run.cfg, run.stage)).to(run.device)
        load_state_into(model, ckpt["state_dict"], str(snapshot))
        disc = None
        if run.disc is not None and record.discriminator is not None:
            disc = build_model(record.discriminator, dict(run.cfg.discriminator)).to(run.device)
            load_state_into(disc, stored_discriminator(ckpt, snapshot)["state_dict"], str(snapshot))
        val = validate(model, run.val_set, run.device)
        own = {"shipped_step": step, "acceleration": af}
        af_meta = meta | {
            "val": val,
            "d_val": ckpt["metadata"].get("d_val", {}),
            "shipped_for": af,
            "selection": selection | own,
        }
        save_checkpoint(path, model, af_meta, discriminator=disc)
        run.log.write(stage=run.stage, epoch=run.epoch, step=step, type="shipped", acceleration=af, **val)


def run_pipeline(
    cfg: TrainConfig, stages: list[str] | None = None, force: bool = False, progress: bool = True
) -> dict[str, Path]:
    """Run ``stages`` (default: all four, in the recipe's order)."""
    out = {}
    for stage in stages or list(STAGES):
        out[stage] = run_stage(cfg, stage, force=force, progress=progress)
    return out


# ---- command line -------------------------------------------------------------------------------
def _summary(stage: str, path: Path) -> str:
    """A stage's lines of the run summary: its checkpoint, validation metrics and wall time; for the
    SN-GAN the discriminator's last held-out check and every warning of the run."""
    meta = load_checkpoint(path)["metadata"]
    lines = [f"{stage:13s} {path}  val={meta.get('val')}  wall={meta.get('wall_time_s')} s"]
    d_val = meta.get("d_val")
    if d_val:
        accuracy, auc = d_val["d_accuracy"], d_val["d_auc"]
        lines.append(f"{'':13s} discriminator on held-out slices: patch accuracy {accuracy:.3f}, image AUC {auc:.3f}")
    lines += [f"{'':13s} warning: {message}" for message in meta.get("warnings", [])]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recon_lib.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/teaching.yaml")
    parser.add_argument("--stage", default="all", choices=["all", *STAGES], help="run one stage (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--force", action="store_true", help="retrain stages whose checkpoints have other settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, parse_overrides(args.set))
        stages = list(STAGES) if args.stage == "all" else [args.stage]
        t0 = time.time()
        paths = run_pipeline(cfg, stages, force=args.force, progress=not args.no_progress)
    except (ConfigError, CheckpointError, TrainingError, DataFormatError, DatasetNotPreparedError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        for stage, path in paths.items():
            print(_summary(stage, path))
        print(f"total wall time this run: {time.time() - t0:.0f} s")
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
