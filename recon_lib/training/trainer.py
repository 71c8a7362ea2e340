"""The paper's training recipe, resumable, on CPU, CUDA/MPS or several processes.

Stages (Qin et al., Sec. 3; REFERENCE.md):

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
import json
import math
import os
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as torch_dist
from torch import nn
from torch.utils.data import DataLoader, Sampler

from recon_lib.core.devices import select_device
from recon_lib.data.dataset import DatasetNotPreparedError, KneeDataset
from recon_lib.data.fastmri_io import DataFormatError
from recon_lib.metrics.losses import lsgan_discriminator_loss, lsgan_generator_loss, masked_magnitude, sn_loss
from recon_lib.metrics.quality import volume_metrics
from recon_lib.models.checkpoint import CheckpointError, build_model, load_checkpoint, load_state_into, save_checkpoint
from recon_lib.models.inference import reconstruct
from recon_lib.physics.masks import MaskFunc
from recon_lib.training.config import STAGES, ConfigError, TrainConfig, load_config

__all__ = ["TrainingError", "STAGE_FILES", "run_stage", "run_pipeline", "main"]

#: final checkpoint file of each stage, inside ``checkpoint_dir``
STAGE_FILES = {
    "pretrain": "sn_pretrained.pt",
    "finetune_sn": "sn_finetuned.pt",
    "finetune_gan": "sn_gan.pt",
    "unet": "unet.pt",
}
#: stages that start from another stage's final weights
STAGE_INIT = {"finetune_sn": "pretrain", "finetune_gan": "pretrain"}


class TrainingError(RuntimeError):
    """Training cannot continue (e.g. a non-finite loss); the last good checkpoint is kept."""


# ---- devices and processes --------------------------------------------------------------------
class _Dist:
    """Rank / world size of a torchrun launch (rank 0 of 1 when not distributed)."""

    def __init__(self, device: torch.device) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not torch_dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            torch_dist.init_process_group(backend=backend)

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()


class EpochSampler(Sampler[int]):
    """Deterministic shuffled order per ``(seed, epoch)``, sharded across ranks, resumable.

    Every rank gets ``ceil(n / world)`` indices (the permutation wraps to pad); ``start`` skips
    the first indices of this rank's share, which is how a resumed epoch continues mid-way.
    """

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1) -> None:
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def indices(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        per_rank = math.ceil(self.n / self.world)
        reps = math.ceil(per_rank * self.world / max(self.n, 1))
        perm = (perm * reps)[: per_rank * self.world]
        return perm[self.rank :: self.world]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self.start :])

    def __len__(self) -> int:
        return max(0, math.ceil(self.n / self.world) - self.start)


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


def make_val_dataset(cfg: TrainConfig) -> KneeDataset:
    return KneeDataset(
        _split_dir(cfg, "val"),
        mask_func=_mask_func(cfg),
        train=False,
        seed=cfg.seed,
        limit_volumes=cfg.data.max_val_volumes,
    )


# ---- models and losses --------------------------------------------------------------------------
def _stage_model(cfg: TrainConfig, stage: str) -> tuple[str, dict[str, Any]]:
    return ("UNetReconstructor", dict(cfg.unet)) if stage == "unet" else ("SensitivityNetwork", dict(cfg.sn))


#: the L_SN every stage trains with (recorded in the checkpoints' settings)
TRAINING_LOSS = "sn_loss(mask=foreground, lam=1e-3, l1_reduction='sum')"


def _magnitude_loss(rec: torch.Tensor, batch: dict[str, Any], device: torch.device) -> torch.Tensor:
    """:data:`TRAINING_LOSS`: foreground SSIM and foreground L1 of the magnitude (paper Eq. 1)."""
    target = batch["target"].to(device)
    data_range = batch["max"].to(device=device, dtype=target.dtype)
    fg = batch["foreground"].to(device)
    return sn_loss(rec.abs(), target, data_range=data_range, mask=fg, lam=1e-3, l1_reduction="sum")


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
    rows = [volume_metrics(np.stack(gts[n]), np.stack(preds[n]), np.stack(fgs[n])) for n in preds]
    model.train()
    return {k: float(np.mean([r[k] for r in rows])) for k in ("nmse", "psnr", "ssim")} if rows else {}


# ---- one stage ----------------------------------------------------------------------------------
class _Log:
    """Append-only JSONL log of step losses and validation metrics (trimmed on resume)."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path, self.enabled = path, enabled

    def trim(self, max_step: int) -> None:
        if not (self.enabled and self.path.exists()):
            return
        keep = [ln for ln in self.path.read_text().splitlines() if ln and json.loads(ln).get("step", 0) <= max_step]
        self.path.write_text("".join(ln + "\n" for ln in keep))

    def write(self, **record: Any) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(record) + "\n")


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
        "loss": TRAINING_LOSS,
    }
    if stage == "finetune_gan":
        out["discriminator"] = dict(cfg.discriminator)
    return out


def run_stage(
    cfg: TrainConfig, stage: str, *, force: bool = False, progress: bool = True, _stop_after_steps: int | None = None
) -> Path:
    """Train one stage (or skip it when its final checkpoint already matches the config).

    Args:
        cfg: the training configuration.
        stage: one of ``STAGES``.
        force: retrain even when a final checkpoint with different settings exists.
        progress: show tqdm progress bars.
        _stop_after_steps: testing hook -- simulate a kill after this many steps of this call.

    Returns:
        Path of the stage's final checkpoint.
    """
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r} (stages: {', '.join(STAGES)})")
    device = select_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dist = _Dist(device)
    settings = _stage_settings(cfg, stage)
    final_path = Path(cfg.checkpoint_dir) / STAGE_FILES[stage]
    stage_dir = Path(cfg.output_dir) / stage
    last_path = stage_dir / "last.pt"

    if final_path.exists():
        done = load_checkpoint(final_path)["metadata"]
        if done.get("settings") == settings:
            return final_path
        if not force:
            raise CheckpointError(
                f"{final_path} was trained with other settings than this config; delete it or pass --force to retrain"
            )

    st = cfg.stages[stage]
    torch.manual_seed(cfg.seed + STAGES.index(stage))
    model_class, model_config = _stage_model(cfg, stage)
    model = build_model(model_class, model_config).to(device)
    if stage in STAGE_INIT:
        init_path = Path(cfg.checkpoint_dir) / STAGE_FILES[STAGE_INIT[stage]]
        init = load_checkpoint(init_path, map_location="cpu")
        load_state_into(model, init["state_dict"], str(init_path))
    optimiser = torch.optim.RMSprop(model.parameters(), lr=st.lr)
    disc: nn.Module | None = None
    d_optimiser: torch.optim.Optimizer | None = None
    if stage == "finetune_gan":
        disc = build_model("PatchDiscriminator", dict(cfg.discriminator)).to(device)
        d_optimiser = torch.optim.Adam(disc.parameters(), lr=st.d_lr, betas=(0.5, 0.999))

    train_set = make_train_dataset(cfg)
    val_set = make_val_dataset(cfg)
    sampler = EpochSampler(len(train_set), cfg.seed, dist.rank, dist.world)
    steps_per_epoch = math.ceil(len(sampler.indices()) / st.batch_size)
    if st.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, st.max_steps_per_epoch)

    epoch, step_in_epoch, global_step, elapsed, best = 0, 0, 0, 0.0, {}
    log = _Log(stage_dir / "log.jsonl", dist.main)
    if last_path.exists():
        ckpt = load_checkpoint(last_path)
        if ckpt["metadata"].get("settings") != settings:
            raise CheckpointError(
                f"{last_path} is a resumable checkpoint of other settings (another config or architecture); "
                f"delete {stage_dir} to start this stage afresh"
            )
        load_state_into(model, ckpt["state_dict"], str(last_path))
        ts = ckpt["training_state"]
        optimiser.load_state_dict(ts["optimiser"])
        if disc is not None and d_optimiser is not None:
            load_state_into(disc, ts["discriminator"], f"{last_path} (discriminator)")
            d_optimiser.load_state_dict(ts["d_optimiser"])
        torch.set_rng_state(ts["torch_rng"])
        epoch, step_in_epoch, global_step, elapsed = ts["epoch"], ts["step_in_epoch"], ts["global_step"], ts["elapsed"]
        best = ckpt["metadata"].get("val", {})
        log.trim(global_step)

    train_model: nn.Module = model
    train_disc = disc
    if dist.enabled:
        train_model = nn.parallel.DistributedDataParallel(model)
        if disc is not None:
            train_disc = nn.parallel.DistributedDataParallel(disc)

    def save_last() -> None:
        if not dist.main:
            return
        ts = {
            "optimiser": optimiser.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "epoch": epoch,
            "step_in_epoch": step_in_epoch,
            "global_step": global_step,
            "elapsed": elapsed + time.time() - t0,
        }
        if disc is not None and d_optimiser is not None:
            ts["discriminator"] = {k: v.detach().cpu() for k, v in disc.state_dict().items()}
            ts["d_optimiser"] = d_optimiser.state_dict()
        meta = {"stage": stage, "epoch": epoch, "step": global_step, "settings": settings, "val": best}
        save_checkpoint(last_path, model, meta, training_state=ts)

    t0 = time.time()
    steps_this_call = 0
    model.train()
    from tqdm.auto import tqdm

    while epoch < st.epochs:
        train_set.set_epoch(epoch)
        sampler.set_position(epoch, step_in_epoch * st.batch_size)
        loader = DataLoader(
            train_set,
            batch_size=st.batch_size,
            sampler=sampler,
            num_workers=cfg.data.num_workers,
            persistent_workers=False,
        )
        bar = tqdm(
            total=steps_per_epoch,
            initial=step_in_epoch,
            desc=f"{stage} epoch {epoch + 1}/{st.epochs}",
            disable=not (progress and dist.main),
            leave=False,
            dynamic_ncols=True,
        )
        for batch in loader:
            if step_in_epoch >= steps_per_epoch:
                break
            rec = reconstruct(train_model, batch, device)
            l_sn = _magnitude_loss(rec, batch, device)
            record: dict[str, float] = {"l_sn": l_sn.item()}
            if train_disc is None or d_optimiser is None:
                loss = l_sn
            else:
                fg = batch["foreground"].to(device)
                scale = batch["max"].to(device=device, dtype=torch.float32).view(-1, 1, 1, 1)
                fake = masked_magnitude(rec, fg) / scale
                real = masked_magnitude(batch["target"].to(device), fg) / scale
                d_out = train_disc(torch.cat([real, fake.detach()]))
                d_real, d_fake = d_out.chunk(2)
                d_loss = lsgan_discriminator_loss(d_real, d_fake)
                d_optimiser.zero_grad(set_to_none=True)
                d_loss.backward()
                d_optimiser.step()
                g_adv = lsgan_generator_loss(train_disc(fake))
                loss = st.gamma * l_sn + g_adv
                record |= {"d_loss": d_loss.item(), "g_adv": g_adv.item()}
            if not torch.isfinite(loss):
                kept = last_path if last_path.exists() else "(none yet)"
                raise TrainingError(
                    f"non-finite loss ({loss.item()}) in stage {stage}, epoch {epoch + 1}, step {global_step + 1}; "
                    f"stopped -- the last good checkpoint is kept at {kept}"
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step_in_epoch += 1
            global_step += 1
            steps_this_call += 1
            log.write(stage=stage, epoch=epoch, step=global_step, loss=loss.item(), **record)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            bar.update(1)
            if global_step % st.checkpoint_every == 0:
                save_last()
            if _stop_after_steps is not None and steps_this_call >= _stop_after_steps:
                bar.close()
                raise KeyboardInterrupt(f"simulated interruption after {steps_this_call} steps")
        bar.close()
        epoch, step_in_epoch = epoch + 1, 0
        if dist.main:
            best = validate(model, val_set, device)
            log.write(stage=stage, epoch=epoch, step=global_step, type="val", **best)
        dist.barrier()
        save_last()

    if dist.main:
        meta = {
            "stage": stage,
            "epoch": epoch,
            "step": global_step,
            "settings": settings,
            "val": best,
            "wall_time_s": round(elapsed + time.time() - t0, 1),
            "data_seed": cfg.seed,
            "accelerations": list(cfg.data.accelerations),
            "device": str(device),
            "world_size": dist.world,
            "torch": torch.__version__,
            "train_config": cfg.to_dict(),
        }
        save_checkpoint(final_path, model, meta)
    dist.barrier()
    return final_path


def run_pipeline(
    cfg: TrainConfig, stages: list[str] | None = None, force: bool = False, progress: bool = True
) -> dict[str, Path]:
    """Run ``stages`` (default: all four, in the recipe's order)."""
    out = {}
    for stage in stages or list(STAGES):
        out[stage] = run_stage(cfg, stage, force=force, progress=progress)
    return out


# ---- command line -------------------------------------------------------------------------------
def _parse_overrides(items: list[str]) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key.path=value, got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = _scalar(yaml.safe_load(value))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recon_lib.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="YAML config, e.g. configs/teaching.yaml")
    parser.add_argument("--stage", default="all", choices=["all", *STAGES], help="run one stage (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--force", action="store_true", help="retrain stages whose checkpoints have other settings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, _parse_overrides(args.set))
        stages = list(STAGES) if args.stage == "all" else [args.stage]
        t0 = time.time()
        paths = run_pipeline(cfg, stages, force=args.force, progress=not args.no_progress)
    except (ConfigError, CheckpointError, TrainingError, DataFormatError, DatasetNotPreparedError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        for stage, path in paths.items():
            meta = load_checkpoint(path)["metadata"]
            print(f"{stage:13s} {path}  val={meta.get('val')}  wall={meta.get('wall_time_s')} s")
        print(f"total wall time this run: {time.time() - t0:.0f} s")
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
