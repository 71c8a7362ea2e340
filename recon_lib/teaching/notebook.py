"""Small helpers the teaching notebooks share: one test slice, a live training run, a widget with its picture.

Kept here (not in the notebooks) so that every notebook cell stays a one-line call and the
logic is tested (``tests/test_teaching.py``).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import default_collate

from recon_lib.core.checks import check_int
from recon_lib.data.dataset import KneeDataset
from recon_lib.models.stages import get_stage
from recon_lib.physics.masks import MaskFunc
from recon_lib.teaching import suite
from recon_lib.training.config import STAGES, TrainConfig, load_config
from recon_lib.training.trainer import run_stage

__all__ = ["load_slice", "live_config", "live_run", "gan_outcome", "show_widget", "WIDGET_VIEW"]

#: the MIME type under which Jupyter front ends find a widget to render
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def load_slice(
    acceleration: int = 8,
    volume: int = 0,
    slice: int | None = None,
    split: str = "test",
    root: str | Path | None = None,
) -> dict[str, Any]:
    """One slice of a split as a collated batch of one (fixed, file-name-seeded mask).

    Args:
        acceleration: undersampling factor of the mask (4 or 8).
        volume: index of the volume in the split (sorted by file name).
        slice: slice index inside the volume (default: the middle slice).
        split: ``"train"``, ``"val"`` or ``"test"``.
        root: dataset folder (default :func:`recon_lib.teaching.suite.data_dir`).

    Returns:
        The dataset item with a batch dimension of one: ``kspace`` / ``maps`` ``(1, C, H, W)``,
        ``mask`` ``(1, 1, 1, W)``, ``target`` / ``foreground`` ``(1, rh, rw)``, ...
    """
    if split not in suite.SPLITS:
        raise ValueError(f"split must be one of {suite.SPLITS}, got {split!r}")
    folder = suite.require_data(root) / split
    dataset = KneeDataset(folder, MaskFunc([acceleration]), train=False, limit_volumes=volume + 1)
    if not isinstance(volume, int) or not 0 <= volume < len(dataset.volumes):
        raise ValueError(f"volume must be an index below {len(dataset.volumes)} in {folder}, got {volume!r}")
    indices = [i for i, (v, _) in enumerate(dataset.examples) if v == volume]
    index = indices[len(indices) // 2] if slice is None else indices[slice]
    return default_collate([dataset[index]])


def live_config(
    stage: str,
    steps: int,
    config: str = "tiny",
    workdir: str | Path | None = None,
    init_from: str | Path | None = None,
    settings: dict[str, Any] | None = None,
    **sn: int,
) -> TrainConfig:
    """A short training configuration writing to a scratch folder (never to ``checkpoints/``).

    Args:
        stage: the stage to run (``"pretrain"``, ``"finetune_sn"``, ``"finetune_gan"``, ``"unet"``).
        steps: optimisation steps (one epoch of ``steps`` steps; one validation volume).
        config: a config name in ``configs/`` (``tiny``, ``teaching``, ``paper``).
        workdir: scratch folder (default: a new temporary folder).
        init_from: folder holding the weights the stage starts from (e.g. the shipped
            ``checkpoints/`` for ``finetune_gan``, which starts from ``sn_pretrained.pt``);
            they are copied into the scratch folder.
        settings: the stage's own settings to override (e.g. ``{"gamma": 0.1, "d_lr": 1e-4}``).
        **sn: overrides of the SN architecture (``num_cascades``, ``features``).

    Returns:
        The config; its ``output_dir / stage / "log.jsonl"`` is the training log.
    """
    steps = check_int("steps", steps, minimum=1)
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix=f"recon_{stage}_"))
    ckpt = work / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    source = get_stage(stage).init_from if stage in STAGES else None  # an unknown stage: load_config names it
    if init_from is not None and source is not None:
        name = get_stage(source).checkpoint_name()
        shutil.copyfile(Path(init_from) / name, ckpt / name)
    overrides: dict[str, Any] = {
        "output_dir": str(work / "run"),
        "checkpoint_dir": str(ckpt),
        "data": {"root": str(suite.data_dir()), "max_val_volumes": 1, "num_workers": 0},
        "stages": {stage: {"epochs": 1, "max_steps_per_epoch": steps, "checkpoint_every": steps, **(settings or {})}},
    }
    if sn:
        overrides["sn"] = dict(sn)
    cfg = load_config(suite.repo_root() / "configs" / f"{config}.yaml", overrides)
    if stage in STAGES and get_stage(stage).adversarial:
        _shorten_adversarial(cfg.stages[stage], steps, settings or {})
    return cfg


def _shorten_adversarial(st: Any, steps: int, given: dict[str, Any]) -> None:
    """Fit the adversarial schedule of a full run into a live run of ``steps`` steps (settings the
    caller gave are kept): the discriminator's warm-up at most a quarter of the steps, one
    discriminator step per generator step when two would leave the generator none, no snapshots
    (choosing among snapshots is the full run's job)."""
    if "d_warmup_steps" not in given:
        st.d_warmup_steps = min(st.d_warmup_steps, steps // 4)
    if "d_steps" not in given and st.d_warmup_steps + st.d_steps > steps:
        st.d_steps = 1
    if "snapshot_every" not in given:
        st.snapshot_every = None
        st.ship_per_acceleration = False  # it chooses among snapshots: none here


def live_run(cfg: TrainConfig, stage: str, progress: bool = False) -> Path:
    """Run ``stage`` of ``cfg`` and return its ``log.jsonl`` for plotting.

    Prints one line when done (steps, seconds, last loss). ``progress=True`` adds tqdm's bar, which a
    saved notebook would keep at whatever state it was last drawn in, so the notebooks leave it off.
    """
    import json
    import time

    start = time.perf_counter()
    run_stage(cfg, stage, progress=progress)
    log = Path(cfg.output_dir) / stage / "log.jsonl"
    steps = [json.loads(line) for line in log.read_text().splitlines() if '"loss"' in line]
    last = f", last loss {steps[-1]['loss']:.4f}" if steps and isinstance(steps[-1].get("loss"), (int, float)) else ""
    print(f"{stage}: {len(steps)} logged steps in {time.perf_counter() - start:.1f} s{last}")
    return log


def _gan_finetune(plan: dict[str, Any], acceleration: int) -> torch.nn.Module:
    """``plan["steps"]`` more SN-GAN steps from the shipped SN-GAN of ``acceleration`` (its own
    ``sn_gan_af<AF>.pt`` where shipped, else ``sn_gan.pt``), the trainer's own step
    (:func:`~recon_lib.training.steps.training_step`) on the teaching config's training batches, with
    ``gamma`` / ``d_lr`` from the plan and the discriminator the shipped SN-GAN ships (a fresh one
    if it ships none); the discriminator steps ``d_steps`` times per generator step as in the
    teaching config; no validation, no checkpoint (about a second per step on a CPU)."""
    from recon_lib.models.checkpoint import CheckpointError, build_model, load_discriminator, load_model
    from recon_lib.training.steps import Learner, generator_moves, training_step

    cfg = load_config(suite.repo_root() / "configs" / "teaching.yaml", {"data": {"root": str(suite.data_dir())}})
    st, record = cfg.stages["finetune_gan"], get_stage("finetune_gan")
    torch.manual_seed(cfg.seed)
    path = record.checkpoint_for(suite.checkpoint_dir(), acceleration)
    model = load_model(path, "cpu")[0].train()
    try:
        disc = load_discriminator(path).train()
    except CheckpointError:  # an SN-GAN that ships no discriminator
        disc = build_model(str(record.discriminator), dict(cfg.discriminator))
    betas = (st.d_betas[0], st.d_betas[1])
    learner = Learner(
        model=model,
        optimiser=torch.optim.RMSprop(model.parameters(), lr=st.lr),
        loss_region=st.loss_region,
        disc=disc,
        d_optimiser=torch.optim.Adam(disc.parameters(), lr=float(plan.get("d_lr", st.d_lr)), betas=betas),
        gamma=float(plan.get("gamma", st.gamma)),
    )
    schedule = dataclasses.replace(st, d_warmup_steps=0)  # the shipped discriminator is warm already
    train = KneeDataset(suite.data_dir() / "train", MaskFunc([acceleration]), train=True, seed=cfg.seed)
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))
    for step in range(int(plan["steps"]) * schedule.d_steps):  # plan["steps"] generator steps
        batch = default_collate([train[int(order[step % len(train)])]])
        training_step(learner, batch, generator_step=generator_moves(schedule, step))
    return model.eval()


def gan_outcome(plan: dict[str, Any], slices: int = 4, acceleration: int = 4) -> dict[str, float]:
    """Fine-tune the shipped SN-GAN longer by ``plan`` and measure what the extra steps bought.

    ``plan`` holds ``steps``, and ``gamma`` and ``d_lr`` when they differ from the teaching config's;
    the run continues from the shipped SN-GAN of ``acceleration`` (``checkpoints/sn_gan_af<AF>.pt``
    where one was shipped for it, else ``checkpoints/sn_gan.pt``) with the trainer's SN-GAN step on
    training slices at ``acceleration``. The shipped SN, that shipped SN-GAN and the longer one are
    scored on ``slices`` middle slices of the first validation volume at ``acceleration``: PSNR
    against the SENSE reference on the foreground, and the high-frequency energy ratio against the
    noise-free image (1 = the truth's fine detail; above 1: energy the truth does not have).

    Returns:
        ``psnr_*`` and ``hf_*`` for ``sn``, ``gan`` (shipped) and ``longer``; ``seconds`` (the fine-tuning's
        wall time).
    """
    import time

    import numpy as np

    from recon_lib.metrics.quality import high_frequency_energy_ratio, volume_metrics
    from recon_lib.models.checkpoint import load_model
    from recon_lib.models.inference import reconstruct

    start = time.perf_counter()
    models = {"longer": _gan_finetune(plan, acceleration)}
    seconds = time.perf_counter() - start
    for name, stage in (("sn", "finetune_sn"), ("gan", "finetune_gan")):
        models[name] = load_model(get_stage(stage).checkpoint_for(suite.checkpoint_dir(), acceleration), "cpu")[0]
    dataset = KneeDataset(suite.data_dir() / "val", MaskFunc([acceleration]), train=False, limit_volumes=1)
    first = max(0, len(dataset) // 2 - slices // 2)
    chosen = list(range(first, min(len(dataset), first + slices)))
    batch = default_collate([dataset[i] for i in chosen])
    truth = dataset.noise_free(0)
    reference = np.asarray(truth[chosen]) if truth is not None else batch["target"].numpy()
    fg, peak = batch["foreground"].numpy(), float(batch["max"][0])
    scores: dict[str, float] = {"seconds": seconds}
    for name, model in models.items():
        with torch.inference_mode():
            image = reconstruct(model, batch).abs().numpy()
        scores[f"psnr_{name}"] = volume_metrics(batch["target"].numpy(), image, mask=fg, data_range=peak)["psnr"]
        scores[f"hf_{name}"] = high_frequency_energy_ratio(reference, image, mask=fg)
    return scores


def show_widget(widget: Any, static: Any, caption: str = "") -> None:
    """Display an ipywidgets view and a static picture of it as *one* output.

    A live front end (JupyterLab, Voila) renders the widget; a page without a kernel or widget state
    (GitHub, a plain HTML export) falls back to the PNG, so a saved notebook shows what the widget
    showed instead of ``VBox(children=...)``.

    Args:
        widget: an ipywidgets widget.
        static: a matplotlib figure (closed here, so it is not shown a second time) or PNG bytes.
        caption: the plain-text fallback (default: says that the picture is a static copy).
    """
    import base64
    import io

    from IPython.display import display

    if hasattr(static, "savefig"):
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        static.savefig(buffer, format="png", dpi=static.dpi)
        plt.close(static)
        static = buffer.getvalue()
    if not isinstance(static, bytes) or not static.startswith(b"\x89PNG"):
        raise TypeError(f"static must be a matplotlib figure or PNG bytes, got {type(static).__name__}")
    model_id = getattr(widget, "model_id", None)
    if not model_id:
        raise TypeError(f"widget must be an ipywidgets widget, got {type(widget).__name__}")
    bundle = {
        WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": model_id},
        "image/png": base64.b64encode(static).decode("ascii"),
        "text/plain": caption or "[an interactive widget; its picture shows where widgets do not run]",
    }
    display(bundle, raw=True)
