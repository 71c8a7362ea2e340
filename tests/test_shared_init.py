"""The shared-initialisation lesson: the barrier along alpha, and the lesson on the shipped models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recon_lib.evaluation.shared_init import interpolation_barrier, lesson_rows, lesson_summary, main
from recon_lib.models.checkpoint import load_checkpoint, load_model

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints"
DATA = ROOT / "data" / "knee"


def _records(values, metric="psnr", af=4, mode="network"):
    return [{"mode": mode, "acceleration": af, "alpha": a, metric: v} for a, v in values]


def test_barrier_is_the_largest_shortfall_below_the_line():
    recs = _records([(0.0, 30.0), (0.25, 28.0), (0.5, 25.0), (0.75, 27.0), (1.0, 28.0)])
    (b,) = interpolation_barrier(recs)
    # line at 0.5: 29.0, value 25.0 -> 4.0; at 0.25: 29.5 - 28 = 1.5; at 0.75: 28.5 - 27 = 1.5
    assert b["barrier"] == pytest.approx(4.0) and b["alpha"] == 0.5 and b["at_half"] == pytest.approx(4.0)
    assert b["end_points"] == [30.0, 28.0]


def test_barrier_of_a_path_above_the_line_is_zero_and_its_half_point_negative():
    (b,) = interpolation_barrier(_records([(0.0, 30.0), (0.5, 29.9), (1.0, 29.0)]))
    assert b["barrier"] == 0.0 and b["at_half"] == pytest.approx(-0.4)


def test_barrier_follows_the_direction_of_the_measure():
    # NMSE: lower is better, so a bump *up* in the middle is the barrier
    (b,) = interpolation_barrier(_records([(0.0, 0.02), (0.5, 0.05), (1.0, 0.03)], metric="nmse"), metric="nmse")
    assert b["barrier"] == pytest.approx(0.025)


@pytest.mark.parametrize(
    "recs, metric, match",
    [
        (_records([(0.0, 1.0), (1.0, 1.2)], metric="hf_energy_ratio"), "hf_energy_ratio", "higher or lower"),
        (_records([(0.0, 30.0), (0.5, 29.0)]), "psnr", "alpha = 0 and alpha = 1"),
        (_records([(0.0, 30.0), (1.0, 29.0)]), "vif", "'vif' is not in"),
    ],
)
def test_bad_requests_are_one_clear_error(recs, metric, match):
    with pytest.raises(ValueError, match=match):
        interpolation_barrier(recs, metric)


needs_shipped = pytest.mark.skipif(
    not ((SHIPPED / "sn_seed1.pt").is_file() and (DATA / "test").is_dir()),
    reason="needs the shipped checkpoints and the embedded dataset (make data)",
)


@needs_shipped
def test_the_shipped_seed1_sn_was_trained_from_another_seed():
    meta = load_checkpoint(SHIPPED / "sn_seed1.pt")["metadata"]
    assert meta["settings"]["seed"] == 1 and "seed=1" in meta["command"]
    assert load_checkpoint(SHIPPED / "sn_finetuned.pt")["metadata"]["settings"]["seed"] == 0


@needs_shipped
def test_independent_weights_interpolate_worse_than_shared_ones():
    """On one real test volume at AF 4: the SN -> SN-GAN path stays near the line between its end
    points and level with the pixel blend (within 0.1 dB; which is ahead depends on how far the
    SN-GAN moved from the SN); the SN -> seed-1 SN path falls far below both."""
    sn, _ = load_model(SHIPPED / "sn_finetuned.pt")
    gan, _ = load_model(SHIPPED / "sn_gan.pt")
    other, _ = load_model(SHIPPED / "sn_seed1.pt")
    rows = lesson_rows(
        DATA / "test", sn, gan, other, alphas=(0.0, 0.5, 1.0), accelerations=(4,), limit_volumes=1, progress=False
    )
    summary = lesson_summary(rows, reps=200)
    shared = {b["metric"]: b for b in summary["shared"]["barriers"]}
    independent = {b["metric"]: b for b in summary["independent"]["barriers"]}
    assert shared["psnr"]["at_half"] < 0.3
    assert independent["psnr"]["at_half"] > shared["psnr"]["at_half"] + 1.0
    blend = {name: next(d for d in s["network_vs_blend"] if d["metric"] == "psnr") for name, s in summary.items()}
    assert abs(blend["shared"]["mean"]) < 0.1 and blend["independent"]["mean"] < -1.0


def test_command_line_bad_input_is_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "recon_lib.shared_init", "--data", str(tmp_path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "make data" in out.stderr
    assert not (tmp_path / "o").exists()


def test_command_line_names_the_missing_unrelated_checkpoint(tmp_path, capsys):
    (tmp_path / "test").mkdir()
    code = main(["--data", str(tmp_path), "--checkpoints", str(tmp_path / "ckpt"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "sn_seed1.pt" in err and "make sn-seed1" in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_command_line_rejects_alphas_without_the_end_points(tmp_path, capsys):
    (tmp_path / "test").mkdir()
    assert main(["--data", str(tmp_path), "--alphas", "0.2", "0.5", "--out", str(tmp_path / "o")]) == 2
    assert "--alphas" in capsys.readouterr().err


@needs_shipped
def test_command_line_writes_the_lesson(tmp_path):
    code = main(
        [
            "--data",
            str(DATA),
            "--out",
            str(tmp_path),
            "--limit-volumes",
            "1",
            "--accelerations",
            "8",
            "--alphas",
            "0",
            "0.5",
            "1",
            "--bootstrap-reps",
            "200",
            "--no-progress",
        ]
    )
    assert code == 0
    doc = json.loads((tmp_path / "shared_init.json").read_text())
    assert set(doc["pairs"]) == {"shared", "independent"} and doc["unrelated_checkpoint"]["seed"] == 1
    assert "independent" not in (tmp_path / "shared_init.md").read_text()  # descriptions, not keys
    assert "another seed" in (tmp_path / "shared_init.md").read_text()
    assert (tmp_path / "shared_init.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*.tmp"))
