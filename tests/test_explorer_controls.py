"""The alpha explorer's display controls (window, zoom box), background prefetch and automatic alpha,
and the validation sweep behind it (``python -m recon_lib.alpha_validation``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser_harness import make_standin
from test_explorer import SMALL, one_thread  # noqa: F401 (one_thread: an autouse fixture)

from recon_lib.evaluation.alpha_validation import main as validation_main
from recon_lib.evaluation.sweep import load_sweep_records, select_alpha
from recon_lib.teaching.explorer import AlphaExplorer

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "checkpoints"
DATA = ROOT / "data" / "knee"
#: validation records of the shape alpha_sweep writes (AF 8 only): PSNR falls, VIF and HaarPSI peak inside
RECORDS = [
    {"mode": "network", "acceleration": 8, "alpha": a, "psnr": p, "vif": v, "haarpsi": h}
    for a, p, v, h in [(0.0, 30.0, 0.50, 0.70), (0.3, 29.9, 0.56, 0.72), (0.5, 29.6, 0.58, 0.71), (1.0, 29.0, 0.6, 0.6)]
]


@pytest.fixture(scope="module")
def standin():
    return make_standin(**SMALL)


def _explorer(standin, **kwargs) -> AlphaExplorer:
    sn, gan, item = standin
    return AlphaExplorer(sn, gan, item, selection={"acceleration": 8, "volume": 0, "slice": 0}, **kwargs)


# ---- window and zoom box: the display changes, the numbers do not ---------------------------------
def test_window_changes_the_images_not_the_metrics(standin):
    explorer = _explorer(standin)
    w = explorer.widget and explorer.widgets
    before = {k: bytes(w[k].value) for k in ("reference", "network", "network_zoom", "network_error")}
    metrics = explorer.metrics(0.0)
    w["window"].value = (20.0, 60.0)
    assert explorer.window == (20.0, 60.0)
    assert explorer.display_range() == pytest.approx((0.2 * explorer.display.white, 0.6 * explorer.display.white))
    for key in ("reference", "network", "network_zoom"):
        assert bytes(w[key].value) != before[key], key
    assert bytes(w["network_error"].value) == before["network_error"]  # error maps keep their own scale
    assert explorer.metrics(0.0) == metrics
    assert explorer.state()["window_percent"] == [20.0, 60.0]
    # the grey levels follow the window: the reference's white level (100 %) is now saturated white
    from PIL import Image

    grey = np.asarray(Image.open(__import__("io").BytesIO(bytes(w["reference_zoom"].value))))
    assert grey.max() == 255
    for bad in ((60.0, 20.0), (-5.0, 50.0), (0.0, float("nan")), (10.0, 500.0)):
        with pytest.raises(ValueError, match="window"):
            explorer.set_window(*bad)
        assert explorer.window == (20.0, 60.0)


def test_zoom_box_moves_inside_the_image(standin):
    explorer = _explorer(standin)
    w = explorer.widget and explorer.widgets
    top, left, h, wd = explorer.crop_box
    zoom = bytes(w["network_zoom"].value)
    w["zoom_row"].value = 0  # the box is kept inside: its top row becomes 0
    assert explorer.crop_box == (0, left, h, wd)
    assert bytes(w["network_zoom"].value) != zoom
    w["zoom_col"].value = 47
    assert explorer.crop_box == (0, 48 - wd, h, wd)
    assert explorer.state()["crop_box"] == [0, 48 - wd, h, wd]
    for bad in ((48, 3), (3, -1), (2.5, 3)):
        with pytest.raises(ValueError, match="row|col"):
            explorer.centre_crop_on(*bad)
    with pytest.raises(ValueError, match="crop_box"):
        explorer.set_crop_box((40, 0, 16, 16))
    assert explorer.crop_box == (0, 48 - wd, h, wd)


# ---- background prefetch --------------------------------------------------------------------------
def test_background_prefetch_makes_the_neighbours_cache_hits(standin):
    explorer = _explorer(standin, background=True)
    explorer.widget  # noqa: B018 - builds the app, which shows alpha 0 and queues the rest
    assert explorer.wait_prefetched(timeout=120)
    positions = explorer.slider_positions()
    assert all(explorer.is_cached(a) for a in positions)
    misses = explorer.mix.cache_misses
    explorer.set_alpha(0.35)
    assert explorer.last_update_cached and explorer.mix.cache_misses == misses
    # the prefetched views are the same numbers a direct computation gives
    direct = _explorer(standin)
    assert explorer.metrics(0.35) == direct.metrics(0.35)
    np.testing.assert_array_equal(explorer.reconstruction(0.35), direct.reconstruction(0.35))
    assert 'data-metric="psnr"' in explorer.widgets["curve"].value
    assert f"{len(positions)} &alpha; computed so far" in explorer.widgets["curve"].value


def test_a_new_slice_drops_queued_background_work(standin):
    sn, gan, item = standin
    explorer = AlphaExplorer(sn, gan, item)
    explorer.prefetch([0.05 * k for k in range(1, 20)])
    other = dict(item, target=item["target"].roll(3, dims=-1))
    explorer.load_slice(other)  # what select() does
    assert explorer.wait_prefetched(timeout=60)
    # only the new slice's own views are there (ends and the warm-up 0.5), all computed on it
    assert sorted(explorer.cached_alphas()) == [0.0, 0.5, 1.0]
    assert np.array_equal(explorer.reference, other["target"].numpy().astype(np.float64))


# ---- automatic alpha ------------------------------------------------------------------------------
def test_automatic_alpha_row_moves_the_slider_to_select_alphas_choice(standin):
    explorer = _explorer(standin, validation_sweep=RECORDS)
    w = explorer.widget and explorer.widgets
    assert [o[1] for o in w["auto_score"].options] == ["haarpsi", "vif"]
    expected = select_alpha(RECORDS, 8, budget_db=0.3, score="haarpsi")["alpha"]
    assert expected == 0.3 and explorer.suggest_alpha(0.3, "haarpsi")["alpha"] == expected
    assert f'data-alpha="{expected:.2f}"' in w["auto_readout"].value
    assert f'class="alpha-suggested" data-alpha="{expected:.2f}"' in w["curve"].value
    w["auto_go"].click()
    assert explorer.alpha == pytest.approx(expected) and w["slider"].value == pytest.approx(expected)
    w["auto_score"].value = "vif"
    w["auto_budget"].value = 1.0  # VIF rises with alpha: the budget binds at 1 dB -> alpha 1.0 (PSNR -1.0)
    choice = select_alpha(RECORDS, 8, budget_db=1.0, score="vif")
    assert 'data-alpha="1.00"' in w["auto_readout"].value and choice["alpha"] == 1.0
    w["auto_go"].click()
    assert explorer.alpha == 1.0


def test_automatic_alpha_needs_a_sweep_of_the_current_acceleration(standin, tmp_path):
    with pytest.raises(ValueError, match="validation sweep"):
        _explorer(standin).suggest_alpha()
    explorer = _explorer(standin, validation_sweep=[dict(r, acceleration=4) for r in RECORDS])
    explorer.widget  # noqa: B018
    assert explorer.widgets["auto_readout"].value == ""  # nothing to suggest at AF 8
    with pytest.raises(ValueError, match="AF 8"):
        explorer.suggest_alpha()
    # the records file: missing, not JSON, not records -> one error naming the file
    with pytest.raises(FileNotFoundError, match="make alpha-validation"):
        load_sweep_records(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ValueError, match="bad.json is not JSON"):
        load_sweep_records(bad)
    bad.write_text(json.dumps({"records": [{"alpha": 0.5}]}))
    with pytest.raises(ValueError, match="bad.json holds no sweep records"):
        load_sweep_records(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"records": RECORDS}))
    assert _explorer(standin, validation_sweep=good).suggest_alpha()["alpha"] == 0.3


# ---- the validation sweep's command line -----------------------------------------------------------
def test_validation_command_line_bad_input_is_one_line(tmp_path, capsys):
    out = subprocess.run(
        [sys.executable, "-m", "recon_lib.alpha_validation", "--data", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "make data" in out.stderr
    (tmp_path / "val").mkdir()
    assert validation_main(["--data", str(tmp_path), "--alphas", "0.5", "1", "--out", str(tmp_path / "o.json")]) == 2
    assert "--alphas" in capsys.readouterr().err and not (tmp_path / "o.json").exists()


@pytest.mark.skipif(
    not ((SHIPPED / "sn_gan.pt").is_file() and (DATA / "val").is_dir()), reason="needs make data and the checkpoints"
)
def test_validation_command_line_writes_what_the_explorer_reads(tmp_path):
    folder = tmp_path / "alpha_validation"
    argv = ["--data", str(DATA), "--out", str(folder), "--accelerations", "8", "--alphas", "0", "0.5", "1"]
    assert validation_main(argv) == 0
    out = folder / "alpha_validation.json"
    document = json.loads(out.read_text())
    assert document["split"] == "val" and {r["alpha"] for r in document["records"]} == {0.0, 0.5, 1.0}
    records = load_sweep_records(out)
    assert document["choices"]["8"]["haarpsi"] == select_alpha(records, 8, budget_db=0.3, score="haarpsi")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha_validation"]  # no staging folder left behind
