"""Checkpoints carry a checksum and finite weights: corruption is an error naming the file (and key)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from recon_lib.models.checkpoint import (
    FORMAT,
    LEGACY_FORMAT,
    CheckpointError,
    checksum,
    load_checkpoint,
    load_model,
    save_checkpoint,
    upgrade_checkpoint,
)
from recon_lib.models.sensitivity_network import SensitivityNetwork

ROOT = Path(__file__).resolve().parents[1]


def _model() -> SensitivityNetwork:
    torch.manual_seed(0)
    return SensitivityNetwork(num_cascades=2, features=4)


def _saved(tmp_path: Path, name: str = "sn.pt") -> Path:
    return save_checkpoint(tmp_path / name, _model(), {"stage": "pretrain", "epoch": 1})


def _largest_entry_offset(path: Path) -> tuple[int, int]:
    """(offset, size) of the biggest tensor storage inside the checkpoint's zip archive."""
    with zipfile.ZipFile(path) as z:  # tensor storages are the members archive/data/<n>
        storages = [i for i in z.infolist() if "/data/" in i.filename and i.filename.rsplit("/", 1)[1].isdigit()]
        info = max(storages, key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_round_trip_records_format_and_checksum(tmp_path):
    path = _saved(tmp_path)
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == FORMAT and ckpt["checksum"] == checksum(ckpt)
    model, meta = load_model(path)
    assert meta["stage"] == "pretrain"
    for key, value in _model().state_dict().items():
        assert torch.equal(model.state_dict()[key], value)


def test_a_flipped_byte_inside_the_weights_is_caught(tmp_path):
    path = _saved(tmp_path)
    offset, size = _largest_entry_offset(path)
    data = bytearray(path.read_bytes())
    data[offset + size // 2] ^= 0x10  # one bit of one weight
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=rf"{path.name}: checksum mismatch"):
        load_model(path)


def test_edited_contents_with_a_stale_checksum_are_caught(tmp_path):
    """A loadable file whose tensors changed after the checksum was written (what a flipped byte
    that torch does not notice amounts to)."""
    path = _saved(tmp_path)
    ckpt = torch.load(path, weights_only=True)
    key = next(iter(ckpt["state_dict"]))
    ckpt["state_dict"][key] = ckpt["state_dict"][key] + 1e-3
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"checksum mismatch.*corrupted"):
        load_checkpoint(path)


def test_non_finite_weights_are_refused_naming_file_and_key(tmp_path):
    model = _model()
    key = "regularisers.1.tail.weight"
    with torch.no_grad():
        model.state_dict()[key].view(-1)[3] = float("nan")
    path = save_checkpoint(tmp_path / "nan.pt", model, {})
    with pytest.raises(CheckpointError, match=rf"nan\.pt: weight '{key}' holds 1 non-finite value"):
        load_model(path)


def test_legacy_files_are_refused_with_the_upgrade_command_then_upgraded(tmp_path):
    path = _saved(tmp_path)
    ckpt = torch.load(path, weights_only=True)
    legacy = {k: v for k, v in ckpt.items() if k != "checksum"} | {"format": LEGACY_FORMAT}
    torch.save(legacy, path)
    with pytest.raises(CheckpointError, match=r"without a checksum.*python -m recon_lib\.upgrade"):
        load_model(path)
    out = subprocess.run(
        [sys.executable, "-m", "recon_lib.upgrade", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 0 and f"upgraded to {FORMAT}" in out.stdout
    assert upgrade_checkpoint(path) is False  # already current: verified only
    again = load_checkpoint(path)
    assert again["metadata"] == legacy["metadata"]
    for key, value in legacy["state_dict"].items():
        assert torch.equal(again["state_dict"][key], value)


def test_upgrade_refuses_a_legacy_file_with_nan_weights(tmp_path):
    model = _model()
    with torch.no_grad():
        next(iter(model.parameters())).view(-1)[0] = float("inf")
    path = save_checkpoint(tmp_path / "bad.pt", model, {})
    legacy = {k: v for k, v in torch.load(path, weights_only=True).items() if k != "checksum"}
    torch.save(legacy | {"format": LEGACY_FORMAT}, path)
    before = path.read_bytes()
    out = subprocess.run(
        [sys.executable, "-m", "recon_lib.upgrade", str(path)], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "non-finite" in out.stderr
    assert path.read_bytes() == before  # nothing rewritten


@pytest.mark.parametrize("name", ["sn_pretrained.pt", "sn_finetuned.pt", "sn_gan.pt", "unet.pt", "sn_seed1.pt"])
def test_shipped_checkpoints_carry_a_valid_checksum(name):
    ckpt = load_checkpoint(ROOT / "checkpoints" / name)
    assert ckpt["format"] == FORMAT and ckpt["checksum"].startswith("sha256:")


_DISK_FULL = """
import resource, signal, sys
from pathlib import Path
import torch
from recon_lib.models.checkpoint import save_checkpoint
from recon_lib.models.sensitivity_network import SensitivityNetwork
path = Path(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))
save_checkpoint(path, SensitivityNetwork(num_cascades=1, features=4), {"n": 1})  # small: fits
try:
    save_checkpoint(path, SensitivityNetwork(num_cascades=5, features=32), {"n": 2})  # ~3 MB: does not
except OSError as err:
    print("OSError:", err)
"""


def test_a_full_disk_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path):
    """A real write failure (RLIMIT_FSIZE in a subprocess), not a monkeypatched one."""
    path = tmp_path / "sn.pt"
    out = subprocess.run(
        [sys.executable, "-c", _DISK_FULL, str(path)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("OSError:") and "sn.pt: could not write the checkpoint" in out.stdout
    assert load_checkpoint(path)["metadata"]["n"] == 1  # the previous file, intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sn.pt"]  # no temporary file left behind
