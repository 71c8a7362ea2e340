"""Checkpoints: atomic saving, safe loading (``weights_only=True``), rebuilding models.

A checkpoint is a plain dict of tensors and JSON-like values -- never pickled code -- so it
loads with ``torch.load(path, weights_only=True)``::

    {
      "format": "recon_lib.checkpoint/2",
      "model_class": "SensitivityNetwork",      # a name in model_classes()
      "model_config": {...},                     # the model's constructor arguments
      "state_dict": {...},                       # tensors
      "metadata": {...},                         # stage, epoch, step, command, git commit, metrics, ...
      "training_state": {...} | absent,          # optimiser + RNG state for resuming
      "discriminator": {...} | absent,           # an SN-GAN's discriminator: model_class, model_config, state_dict
      "checksum": "sha256:..."                   # over everything above (tensors' bytes included)
    }

Saving writes to a temporary file in the same folder and renames it over the target only once
complete, so a crash or a full disk never destroys the previous checkpoint.

Loading verifies the checksum (a flipped byte anywhere in the tensors or the metadata is an
error naming the file, never a silently different model) and refuses non-finite weights, naming
the file and the key. Format 1 files (no checksum, written before this check existed) are refused
with the command that verifies and upgrades them: ``python -m recon_lib.upgrade FILE ...``.

An adversarially trained model's final checkpoint ships its discriminator beside it (the
``discriminator`` entry, covered by the checksum; :func:`load_discriminator` rebuilds it), so a
fine-tune can be continued from the shipped files (``stages.finetune_gan.init_checkpoint``).

Where a checkpoint fills a role (the SN, the SN-GAN, the U-Net: :data:`~recon_lib.models.stages.ROLES`),
:func:`load_role_model` loads it and :func:`check_role` checks the stage its metadata records (a
pre-trained SN saved as ``sn_gan.pt`` is refused as the SN-GAN) and the accelerations it was trained
for. A checkpoint that records no stage (written by hand, not by the trainer) is not checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recon_lib.core.atomic import atomic_path
from recon_lib.core.checks import state_dict_mismatch
from recon_lib.models.stages import RECIPE, get_role

__all__ = [
    "CheckpointError",
    "model_classes",
    "build_model",
    "load_state_into",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "stored_discriminator",
    "load_discriminator",
    "check_role",
    "load_role_model",
    "git_commit",
    "checksum",
    "upgrade_checkpoint",
]

FORMAT = "recon_lib.checkpoint/2"
#: the format before checksums; ``upgrade`` verifies such a file and re-writes it as :data:`FORMAT`
LEGACY_FORMAT = "recon_lib.checkpoint/1"


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
    discriminator: nn.Module | None = None,
) -> Path:
    """Save ``model`` (its class name, ``model.config`` and state dict) atomically.

    Args:
        path: destination file.
        model: a model with a ``config`` dict attribute (every recon_lib model has one).
        metadata: JSON-like values (stage, epoch, metrics, ...); ``command`` and ``git_commit``
            are added when missing.
        training_state: optional optimiser / RNG state for resuming.
        discriminator: an adversarial stage's discriminator, shipped beside the model (its class,
            config and weights; :func:`load_discriminator` reads it).

    Returns:
        The path written.
    """
    path = Path(path)
    meta = {"command": " ".join(sys.argv), "git_commit": git_commit()} | dict(metadata)
    # Plain JSON types only (numpy floats, TorchVersion, Paths ... become floats / strings), so the
    # file loads with weights_only=True and the metadata prints as JSON.
    meta = json.loads(json.dumps(meta, default=lambda v: v.item() if hasattr(v, "item") else str(v)))
    payload: dict[str, Any] = {"format": FORMAT, **_model_entry(model), "metadata": meta}
    if training_state is not None:
        payload["training_state"] = training_state
    if discriminator is not None:
        payload["discriminator"] = _model_entry(discriminator)
    _write(path, payload)
    return path


def _model_entry(model: nn.Module) -> dict[str, Any]:
    """``model_class``, ``model_config`` and ``state_dict`` (on the CPU) of a model with a ``config`` dict."""
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise CheckpointError(f"{type(model).__name__} has no `config` dict; cannot record how to rebuild it")
    return {
        "model_class": type(model).__name__,
        "model_config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }


def _write(path: Path, payload: dict[str, Any]) -> None:
    """Add the checksum and save atomically."""
    payload = dict(payload)
    payload.pop("checksum", None)
    payload["checksum"] = checksum(payload)
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError as err:  # torch's C++ writer reports a full disk as "basic_ios::clear"
            raise OSError(f"{path}: could not write the checkpoint (disk full or not writable?): {err}") from None


def checksum(payload: Any) -> str:
    """``"sha256:<hex>"`` of a checkpoint payload: every key, tensor (dtype, shape, bytes) and value.

    Dict entries are visited in sorted key order, so the digest does not depend on insertion
    order; the ``"checksum"`` entry itself is left out.

    Example:
        >>> import torch
        >>> a = checksum({"w": torch.zeros(2), "epoch": 3})
        >>> a == checksum({"epoch": 3, "w": torch.zeros(2)}), a == checksum({"w": torch.ones(2), "epoch": 3})
        (True, False)
    """
    digest = hashlib.sha256()
    _feed(digest, payload)
    return "sha256:" + digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(b"{")
        for key in sorted(value, key=str):
            if key == "checksum":
                continue
            digest.update(repr(key).encode())
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(repr(value).encode())


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``: no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    return _verify(path, ckpt)


def _verify(path: Path, ckpt: Any, legacy_ok: bool = False) -> dict[str, Any]:
    """Raise unless ``ckpt`` is a checkpoint whose checksum matches and whose weights are finite."""
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt == LEGACY_FORMAT and not legacy_ok:
        raise CheckpointError(
            f"{path}: written by an older recon_lib without a checksum ({LEGACY_FORMAT}); verify and upgrade it "
            f"with `python -m recon_lib.upgrade {path}`"
        )
    if fmt not in (FORMAT, LEGACY_FORMAT):
        raise CheckpointError(f"{path}: not a recon_lib checkpoint (missing format {FORMAT!r})")
    assert isinstance(ckpt, dict)
    for key in ("model_class", "model_config", "state_dict", "metadata"):
        if key not in ckpt:
            raise CheckpointError(f"{path}: missing entry {key!r}")
    if fmt == FORMAT:
        stored, actual = ckpt.get("checksum"), checksum(ckpt)
        if stored != actual:
            raise CheckpointError(
                f"{path}: checksum mismatch (stored {stored}, contents {actual}) -- the file is corrupted"
            )
    _check_weights(path, ckpt["state_dict"], "")
    if "discriminator" in ckpt:
        disc = ckpt["discriminator"]
        if not (isinstance(disc, dict) and {"model_class", "model_config", "state_dict"} <= set(disc)):
            raise CheckpointError(f"{path}: 'discriminator' must hold model_class, model_config and state_dict")
        _check_weights(path, disc["state_dict"], "discriminator ")
    return ckpt


def _check_weights(path: Path, state: Any, which: str) -> None:
    """Raise unless ``state`` maps names to tensors whose values are finite (``which`` names the model)."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: the {which}'state_dict' must be a mapping of name -> tensor")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{path}: {which}state_dict[{key!r}] is a {type(value).__name__}, not a tensor")
        if (value.is_floating_point() or value.is_complex()) and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise CheckpointError(f"{path}: {which}weight {key!r} holds {bad} non-finite value(s) (NaN or Inf)")


def upgrade_checkpoint(path: str | os.PathLike) -> bool:
    """Verify a checkpoint (finite weights, loadable model) and re-write a format-1 file with a checksum.

    Metadata, weights and training state are kept as they are.

    Returns:
        True if the file was upgraded, False if it already had the current format (and verified).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types for corrupt files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
    ckpt = _verify(path, ckpt, legacy_ok=True)
    model = build_model(ckpt["model_class"], ckpt["model_config"])
    load_state_into(model, ckpt["state_dict"], str(path))
    if ckpt["format"] == FORMAT:
        return False
    _write(path, {**ckpt, "format": FORMAT})
    return True


def load_state_into(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """``model.load_state_dict`` with one clear error naming the first mismatching key."""
    problem = state_dict_mismatch(model.state_dict(), state_dict, ("the model", "the checkpoint"), dtypes=False)
    if problem:
        raise CheckpointError(f"{source}: {problem} -- it was saved from another architecture or width")
    model.load_state_dict(state_dict)


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", expected_class: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint's stored class and config, and load its weights.

    Returns:
        ``(model in eval mode, metadata)``.
    """
    ckpt = load_checkpoint(path, map_location)
    return _rebuild(ckpt, path, map_location, expected_class), ckpt["metadata"]


def _rebuild(
    ckpt: dict[str, Any], path: str | os.PathLike, map_location: str | torch.device, expected_class: str | None
) -> nn.Module:
    """The model of a loaded checkpoint, of ``expected_class`` (None: any), in eval mode."""
    if expected_class is not None and ckpt["model_class"] != expected_class:
        raise CheckpointError(f"{path}: holds a {ckpt['model_class']}, expected a {expected_class}")
    model = build_model(ckpt["model_class"], ckpt["model_config"])
    load_state_into(model, ckpt["state_dict"], str(path))
    return model.to(map_location).eval()


def stored_discriminator(ckpt: Mapping[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The ``discriminator`` entry of a loaded checkpoint (``model_class``, ``model_config``,
    ``state_dict``); :class:`CheckpointError` naming the file when it ships none."""
    entry = ckpt.get("discriminator")
    if entry is None:
        stage = ckpt.get("metadata", {}).get("stage") if isinstance(ckpt.get("metadata"), Mapping) else None
        raise CheckpointError(
            f"{path} ships no discriminator (stage {stage!r}; only an adversarial stage's final checkpoint "
            "holds one, and only those written since the discriminator is shipped)"
        )
    return dict(entry)


def load_discriminator(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> nn.Module:
    """The discriminator an SN-GAN checkpoint ships, rebuilt from its stored class and config, in eval mode."""
    ckpt = load_checkpoint(path, map_location)
    entry = stored_discriminator(ckpt, path)
    model = build_model(entry["model_class"], entry["model_config"])
    load_state_into(model, entry["state_dict"], f"{path} (discriminator)")
    return model.to(map_location).eval()


def check_role(metadata: Any, role: str, path: str | os.PathLike, accelerations: Iterable[float] | None = None) -> None:
    """Raise :class:`CheckpointError` unless the checkpoint at ``path`` may fill ``role``.

    The rule is the role's (:data:`~recon_lib.models.stages.ROLES`), not the file's name: the stage
    the metadata records must be one of the role's stages, and the accelerations it records (the
    trainer records the ones it trained on) must include every one of ``accelerations`` (None: no
    acceleration check). A checkpoint recording no stage, or no accelerations, is not checked there.

    Example (a pre-trained SN saved where the SN-GAN belongs):
        >>> try:
        ...     check_role({"stage": "pretrain"}, "sn_gan", "checkpoints/sn_gan.pt")
        ... except CheckpointError as err:
        ...     print(str(err).replace(", but", ",\\n but"))
        checkpoints/sn_gan.pt holds stage 'pretrain' (a pre-trained SN),
         but the SN-GAN role needs an adversarially fine-tuned SN (stage finetune_gan)
        >>> check_role({"stage": "pretrain", "accelerations": [4, 8]}, "sn", "sn_seed1.pt", accelerations=[4])
    """
    wanted = get_role(role)
    if not isinstance(metadata, Mapping):
        raise CheckpointError(f"{path}: its metadata is a {type(metadata).__name__}, not a mapping")
    stage = metadata.get("stage")
    if stage is not None:
        known = {s.name: s for s in RECIPE}
        if not isinstance(stage, str) or stage not in known:
            raise CheckpointError(
                f"{path} records stage {stage!r}, which is none of the recipe's stages ({', '.join(known)}); "
                f"the {wanted.name} role needs {wanted.needs}"
            )
        if stage not in wanted.stages:
            held = f"stage {stage!r} ({known[stage].summary})"
            raise CheckpointError(f"{path} holds {held}, but the {wanted.name} role needs {wanted.needs}")
    recorded = metadata.get("accelerations")
    if accelerations is not None and recorded is not None:
        _check_accelerations(recorded, [float(a) for a in accelerations], path)


def _check_accelerations(recorded: Any, requested: list[float], path: str | os.PathLike) -> None:
    """The recorded training accelerations include every requested one."""
    try:
        trained = {float(a) for a in recorded}
    except (TypeError, ValueError):
        raise CheckpointError(f"{path} records accelerations {recorded!r}, not a list of numbers") from None
    missing = [a for a in requested if a not in trained]
    if missing:
        raise CheckpointError(
            f"{path} was trained for acceleration(s) {', '.join(f'{a:g}' for a in sorted(trained))}, "
            f"not for {', '.join(f'{a:g}' for a in missing)} (requested here); evaluate it at the accelerations "
            "it was trained for, or train one for these"
        )


def load_role_model(
    path: str | os.PathLike,
    role: str,
    map_location: str | torch.device = "cpu",
    accelerations: Iterable[float] | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """:func:`load_model` of the checkpoint filling ``role`` (a :data:`~recon_lib.models.stages.ROLES`
    key), after :func:`check_role` (its recorded stage and accelerations) and with the role's model class.

    Returns:
        ``(model in eval mode, metadata)``.
    """
    ckpt = load_checkpoint(path, map_location)
    check_role(ckpt["metadata"], role, path, accelerations)
    return _rebuild(ckpt, path, map_location, get_role(role).model_class), ckpt["metadata"]
