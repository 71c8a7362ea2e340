"""The stages of the paper's recipe, one record each: everything the other layers know about a stage.

A :class:`Stage` names the file of the stage's final weights, the stage whose weights it starts
from, the model it trains (the class :func:`~recon_lib.models.checkpoint.build_model` builds and the
configuration section that holds its constructor arguments) and whether it is adversarial (trains a
discriminator beside the model). The trainer, the evaluation and the notebooks read these facts here
and nowhere else.

A :class:`Role` is a place a checkpoint is loaded into -- the SN (the interpolation's alpha = 0), the
SN-GAN (alpha = 1), the U-Net baseline, the pre-trained SN (the triangle's third corner) -- with the
stages whose checkpoints may fill it; :func:`~recon_lib.models.checkpoint.check_role` checks a
checkpoint's recorded stage against it.

Example:
    >>> [s.name for s in RECIPE]
    ['pretrain', 'finetune_sn', 'finetune_gan', 'unet']
    >>> get_stage("finetune_gan").checkpoint_name(), get_stage("finetune_gan").init_from
    ('sn_gan.pt', 'pretrain')
    >>> FINETUNE_SN.checkpoint_path("checkpoints").as_posix()
    'checkpoints/sn_finetuned.pt'
    >>> get_role("sn").stages, get_stage("finetune_gan").role
    (('finetune_sn', 'pretrain'), 'sn_gan')
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Stage",
    "PRETRAIN",
    "FINETUNE_SN",
    "FINETUNE_GAN",
    "UNET",
    "RECIPE",
    "get_stage",
    "Role",
    "ROLES",
    "get_role",
]


@dataclass(frozen=True)
class Stage:
    """One stage of the recipe.

    Attributes:
        name: the stage's name in configs and on the command line (``pretrain``, ...).
        checkpoint: the file of its final weights inside a checkpoint folder.
        model_class: the model it trains, a name :func:`~recon_lib.models.checkpoint.build_model` takes.
        model_section: the configuration section holding that model's constructor arguments.
        init_from: the stage whose final weights it starts from (None: a fresh initialisation).
        discriminator: the discriminator it trains beside the model (a class name, built from the
            ``discriminator`` configuration section), or None: the stage is not adversarial.
        summary: what its checkpoint holds, in words (error messages name it).
        role: the :data:`ROLES` key its final checkpoint fills where the explorers load it by stage.
    """

    name: str
    checkpoint: str
    model_class: str
    model_section: str
    init_from: str | None = None
    discriminator: str | None = None
    summary: str = ""
    role: str = ""

    @property
    def adversarial(self) -> bool:
        """Whether the stage trains a discriminator beside the model (the SN-GAN)."""
        return self.discriminator is not None

    def checkpoint_name(self, acceleration: float | None = None) -> str:
        """The file name of the stage's final weights.

        Args:
            acceleration: None (today's checkpoints serve every acceleration), or the acceleration
                of a checkpoint shipped for that acceleration alone: ``<stem>_af<acceleration>.pt``
                (:meth:`checkpoint_for` picks it where it exists).

        Example:
            >>> FINETUNE_GAN.checkpoint_name(), FINETUNE_GAN.checkpoint_name(acceleration=8)
            ('sn_gan.pt', 'sn_gan_af8.pt')
        """
        if acceleration is None:
            return self.checkpoint
        stem, _, suffix = self.checkpoint.rpartition(".")
        return f"{stem}_af{acceleration:g}.{suffix}"

    def checkpoint_path(self, folder: str | os.PathLike, acceleration: float | None = None) -> Path:
        """``folder / checkpoint_name(acceleration)``."""
        return Path(folder) / self.checkpoint_name(acceleration)

    def per_acceleration_checkpoints(self, folder: str | os.PathLike) -> list[Path]:
        """The stage's per-acceleration checkpoints in ``folder`` (``<stem>_af<acceleration>.pt``), in
        order of acceleration.

        Example:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> for name in ("sn_gan.pt", "sn_gan_af8.pt", "sn_gan_af4.pt"):
            ...     _ = (folder / name).write_bytes(b"")
            >>> [p.name for p in FINETUNE_GAN.per_acceleration_checkpoints(folder)]
            ['sn_gan_af4.pt', 'sn_gan_af8.pt']
        """
        stem, _, suffix = self.checkpoint.rpartition(".")
        found = Path(folder).glob(f"{stem}_af*.{suffix}")
        return sorted(found, key=lambda p: float(p.stem.rpartition("_af")[2]))

    def checkpoint_for(self, folder: str | os.PathLike, acceleration: float | None) -> Path:
        """The checkpoint that serves ``acceleration``: the stage's own for that acceleration when it
        shipped one (``<stem>_af<acceleration>.pt``, e.g. the SN-GAN with ``ship_per_acceleration``),
        else the one that serves every acceleration. None: always the latter.

        Example:
            >>> import tempfile
            >>> folder = Path(tempfile.mkdtemp())
            >>> FINETUNE_GAN.checkpoint_for(folder, 8).name
            'sn_gan.pt'
            >>> _ = (folder / "sn_gan_af8.pt").write_bytes(b"")
            >>> FINETUNE_GAN.checkpoint_for(folder, 8).name, FINETUNE_GAN.checkpoint_for(folder, 4).name
            ('sn_gan_af8.pt', 'sn_gan.pt')
        """
        if acceleration is not None:
            own = self.checkpoint_path(folder, acceleration)
            if own.exists():
                return own
        return self.checkpoint_path(folder)


#: the SN trained from scratch with L_SN
PRETRAIN = Stage(
    "pretrain", "sn_pretrained.pt", "SensitivityNetwork", "sn", summary="a pre-trained SN", role="pretrained_sn"
)
#: the SN fine-tuned with L_SN from the pre-trained SN: the interpolation's alpha = 0
FINETUNE_SN = Stage(
    "finetune_sn",
    "sn_finetuned.pt",
    "SensitivityNetwork",
    "sn",
    init_from="pretrain",
    summary="an SN fine-tuned with L_SN",
    role="sn",
)
#: the SN fine-tuned adversarially from the same pre-trained SN: the interpolation's alpha = 1
FINETUNE_GAN = Stage(
    "finetune_gan",
    "sn_gan.pt",
    "SensitivityNetwork",
    "sn",
    init_from="pretrain",
    discriminator="PatchDiscriminator",
    summary="an adversarially fine-tuned SN",
    role="sn_gan",
)
#: the U-Net baseline
UNET = Stage("unet", "unet.pt", "UNetReconstructor", "unet", summary="a U-Net", role="unet")
#: every stage, in the order the recipe runs them
RECIPE: tuple[Stage, ...] = (PRETRAIN, FINETUNE_SN, FINETUNE_GAN, UNET)


def get_stage(name: str) -> Stage:
    """The stage called ``name``; ``ValueError`` naming the known stages otherwise."""
    for stage in RECIPE:
        if stage.name == name:
            return stage
    raise ValueError(f"unknown stage {name!r} (stages: {', '.join(s.name for s in RECIPE)})")


@dataclass(frozen=True)
class Role:
    """A place a checkpoint is loaded into, and the stages whose checkpoints may fill it.

    Attributes:
        name: the role in words (``SN-GAN``).
        stages: the recipe stages whose checkpoints fill it.
        needs: what it needs, in words, naming those stages (error messages quote it).
    """

    name: str
    stages: tuple[str, ...]
    needs: str

    @property
    def model_class(self) -> str:
        """The model class it holds: that of its stages (which share one)."""
        (model_class,) = {get_stage(name).model_class for name in self.stages}
        return model_class


#: every role a checkpoint is loaded into. The SN (alpha = 0) is an SN trained with L_SN alone: the
#: fine-tuned SN, or a pre-trained SN serving as one (the shared-initialisation lesson's SN of another
#: seed is pre-trained); the SN-GAN only an adversarially fine-tuned SN.
ROLES: dict[str, Role] = {
    "sn": Role(
        "SN",
        ("finetune_sn", "pretrain"),
        "an SN trained with L_SN alone (stage finetune_sn, or a pre-trained SN: stage pretrain)",
    ),
    "sn_gan": Role("SN-GAN", ("finetune_gan",), "an adversarially fine-tuned SN (stage finetune_gan)"),
    "pretrained_sn": Role("pre-trained SN", ("pretrain",), "a pre-trained SN (stage pretrain)"),
    "unet": Role("U-Net", ("unet",), "a U-Net (stage unet)"),
}


def get_role(name: str) -> Role:
    """The role called ``name`` (a :data:`ROLES` key); ``ValueError`` naming the known roles otherwise."""
    if name not in ROLES:
        raise ValueError(f"unknown role {name!r} (roles: {', '.join(ROLES)})")
    return ROLES[name]
