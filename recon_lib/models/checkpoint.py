"""Checkpoints: atomic saving, safe loading (``weights_only=True``), rebuilding models.

A checkpoint is a plain dict of tensors and JSON-like values -- never pickled code -- so it
loads with ``torch.load(path, weights_only=True)``::

    {
      "format": "recon_lib.checkpoint/1",
      "model_class": "SensitivityNetwork",      # a name in model_classes()
      "model_config": {...},                     # the model's constructor arguments
      "state_dict": {...},                       # tensors
      "metadata": {...},                         # stage, epoch, step, command, git commit, metrics, ...
      "training_state": {...} | absent           # optimiser + RNG state for resuming
    }

Saving writes to a temporary file in the same folder and renames it over the target only once
complete, so a crash or a full disk never destroys the previous checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon_lib.core.atomic import atomic_path

__all__ = [
    "CheckpointError",
    "model_classes",
    "build_model",
    "load_state_into",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "git_commit",
]

FORMAT = "recon_lib.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, or does not fit the requested model."""


def model_classes() -> dict[str, type[nn.Module]]:
    """The model classes a checkpoint may name (imported lazily: models depend on this module's users)."""
    from recon_lib.models.discriminator import PatchDiscriminator
    from recon_lib.models.sensitivity_network import SensitivityNetwork
    from recon_lib.models.unet import UNetReconstructor

    return {c.__name__: c for c in (SensitivityNetwork, UNetReconstructor, PatchDiscriminator)}


def build_model(model_class: str, model_config: dict[str, Any]) -> nn.Module:
    """Instantiate a model of a registered class from its constructor arguments."""
    classes = model_classes()
    if model_class not in classes:
        raise CheckpointError(f"unknown model class {model_class!r} (known: {', '.join(sorted(classes))})")
    try:
        return classes[model_class](**model_config)
    except TypeError as err:
        raise CheckpointError(f"model_config does not fit {model_class}: {err}") from None


def git_commit() -> str:
    """The current git commit of the working tree ("unknown" outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    metadata: dict[str, Any],
    training_state: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` (its class name, ``model.config`` and state dict) atomically.

    Args:
        path: destination file.
        model: a model with a ``config`` dict attribute (every recon_lib model has one).
        metadata: JSON-like values (stage, epoch, metrics, ...); ``command`` and ``git_commit``
            are added when missing.
        training_state: optional optimiser / RNG state for resuming.

    Returns:
        The path written.
    """
    path = Path(path)
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError(f"{type(model).__name__} has no `config` dict; cannot record how to rebuild it")
    meta = {"command": " ".join(sys.argv), "git_commit": git_commit()} | dict(metadata)
    # Plain JSON types only (numpy floats, TorchVersion, Paths ... become floats / strings), so the
    # file loads with weights_only=True and the metadata prints as JSON.
    meta = json.loads(json.dumps(meta, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
    payload: dict[str, Any] = {
        "format": FORMAT,
        "model_class": type(model).__name__,
        "model_config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": meta,
    }
    if training_state is not None:
        payload["training_state"] = training_state
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``: no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a recon_lib checkpoint (missing format {FORMAT!r})")
    return ckpt


def load_state_into(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict`` with one clear error naming the first mismatching key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    extra = sorted(set(state_dict) - set(own))
    if missing or extra:
        key = (missing or extra)[0]
        kind = "missing from" if missing else "unexpected in"
        raise CheckpointError(f"{source}: key {key!r} {kind} the checkpoint -- it was saved from another architecture")
    for key, value in state_dict.items():
        if value.shape != own[key].shape:
            raise CheckpointError(
                f"{source}: key {key!r} has shape {tuple(value.shape)} in the checkpoint but "
                f"{tuple(own[key].shape)} in the model -- another architecture or width"
            )
    model.load_state_dict(state_dict)


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", expected_class: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint's stored class and config, and load its weights.

    Returns:
        ``(model in eval mode, metadata)``.
    """
    ckpt = load_checkpoint(path, map_location)
    if expected_class is not None and ckpt["model_class"] != expected_class:
        raise CheckpointError(f"{path}: holds a {ckpt['model_class']}, expected a {expected_class}")
    model = build_model(ckpt["model_class"], ckpt["model_config"])
    load_state_into(model, ckpt["state_dict"], str(path))
    model.to(map_location).eval()
    return model, ckpt["metadata"]
