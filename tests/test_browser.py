"""Real-browser tests of the alpha explorer: JupyterLab and Voila driven by Chromium (Playwright).

Each test starts its own server on 127.0.0.1 at a free port with a token, in temporary Jupyter
folders, opens the notebook, waits for the explorer to render, moves the slider with the
keyboard and by dragging, checks that the reconstruction image (a hash of its PNG bytes) and
the metrics table change, and saves a screenshot under ``outputs/screenshots/``. Servers and
kernels are shut down whatever happens.

Which notebooks:

* JupyterLab: :data:`LAB_NOTEBOOK` (``notebooks/06_network_interpolation.ipynb``) once it
  exists and the shipped checkpoints are there, else a fixture notebook on stand-in models.
  The notebook is copied into a temporary folder first, so the repository copy is never
  modified.
* Voila: :data:`VOILA_NOTEBOOK` (``apps/alpha_explorer.ipynb``) once the checkpoints and the
  dataset exist, else a fixture app on stand-in models.

Needs Debian's Chromium (``apt-get install --no-install-recommends chromium``); without it the
tests skip and say so.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import browser_harness
import pytest
from browser_harness import (
    EXPLORER_READY_JS,
    INSTALL_HINT,
    REPO,
    TRIANGLE_READY_JS,
    TRIANGLE_SHOWN_JS,
    JupyterServer,
    PageWatcher,
    code_notebook,
    drag_slider,
    image_src,
    launch_chromium,
    make_triangle_standin,
    network_psnr,
    press_arrows,
    press_on,
    screenshot,
    shown,
    standin_notebook,
    triangle_notebook,
    wait_for_alpha_change,
    wait_for_new_image,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(150)]

#: the interpolation notebook of the suite (switch here if it moves)
LAB_NOTEBOOK = REPO / "notebooks" / "06_network_interpolation.ipynb"
#: the standalone Voila app
VOILA_NOTEBOOK = REPO / "apps" / "alpha_explorer.ipynb"
CHECKPOINTS = [REPO / "checkpoints" / "sn_finetuned.pt", REPO / "checkpoints" / "sn_gan.pt"]


def _real_models_available() -> bool:
    return all(p.is_file() for p in CHECKPOINTS) and (REPO / "data" / "knee").is_dir()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def _phase(name: str, t0: list[float]) -> None:
    """Print the seconds since the previous phase (shown with ``pytest -s`` or on failure)."""
    now = time.monotonic()
    print(f"[browser] {name}: {now - t0[0]:.1f} s")
    t0[0] = now


def _exercise_slider(page, watcher: PageWatcher) -> None:
    """Keyboard then drag: each must change alpha, the image and the metrics text. They move towards
    the end with room (the automatic alpha may have left the slider at 1)."""
    start = shown(page)
    assert start["metrics"].strip(), "the metrics table is empty"
    sign = 1 if start["alpha"] <= 0.5 else -1
    key = "ArrowRight" if sign > 0 else "ArrowLeft"

    press_arrows(page, 3, key)
    after_keys = wait_for_alpha_change(watcher, start["alpha"])
    assert after_keys["alpha"] == pytest.approx(start["alpha"] + sign * 0.15), (
        f"3 x {key} moved alpha from {start['alpha']} to {after_keys['alpha']}"
    )
    assert after_keys["hash"] != start["hash"], "the reconstruction image did not change after the arrow keys"
    assert after_keys["metrics"] != start["metrics"], "the metrics readout did not change after the arrow keys"

    drag_slider(page, sign * 0.4)
    after_drag = wait_for_alpha_change(watcher, after_keys["alpha"])
    assert sign * (after_drag["alpha"] - after_keys["alpha"]) > 0.1, (
        f"dragging moved alpha only from {after_keys['alpha']} to {after_drag['alpha']}"
    )
    assert after_drag["hash"] not in (start["hash"], after_keys["hash"]), "the image did not change after dragging"
    assert after_drag["metrics"] != after_keys["metrics"], "the metrics readout did not change after dragging"
    assert f"{after_drag['alpha']:.2f}" in after_drag["readout"], (
        f"slider readout {after_drag['readout']!r} vs alpha {after_drag['alpha']}"
    )


def _library_explorer(acceleration: int = 8):
    """The explorer notebook 06 (AF 4) or the app (AF 8) builds: shipped models, the first test volume."""
    from recon_lib.teaching.explorer import AlphaExplorer

    sweep = REPO / "docs" / "results" / "alpha_validation" / "alpha_validation.json"
    return AlphaExplorer.from_checkpoints(
        REPO / "checkpoints",
        REPO / "data" / "knee",
        volume=0,
        acceleration=acceleration,
        warm_up=False,
        validation_sweep=sweep if sweep.is_file() else None,
    )


def _exercise_controls(page, watcher: PageWatcher, library=None) -> None:
    """The rows around the slider: automatic alpha, window, zoom box, acceleration. Each changes the
    images; the PSNR shown equals the library's (``library``: the same explorer built in this process)
    for that setting. The window and zoom change no number."""
    network, zoom = "img.alpha-explorer-network-image", "img.alpha-explorer-network-zoom"
    if library is not None and page.locator(".alpha-explorer-auto-go").count():
        start = shown(page)
        expected = float(page.get_attribute(".alpha-explorer-auto-text", "data-alpha"))
        assert expected == library.suggest_alpha(0.3)["alpha"]  # the starting score: texture vs the truth
        page.locator(".alpha-explorer-auto-go").click()
        if abs(expected - start["alpha"]) > 1e-6:
            wait_for_alpha_change(watcher, start["alpha"])
        assert shown(page)["alpha"] == pytest.approx(expected)
        assert network_psnr(page) == pytest.approx(library.metrics(expected)["psnr"], abs=0.006)

    psnr = network_psnr(page)
    old = image_src(page, network)
    press_on(page, ".alpha-explorer-window", "ArrowLeft", 4, handle=1)  # white level 100 % -> 80 %
    wait_for_new_image(watcher, network, old, "the window")
    assert network_psnr(page) == psnr

    old = image_src(page, zoom)
    press_on(page, ".alpha-explorer-zoom-row", "ArrowRight", 6)  # the zoom box 6 rows down
    wait_for_new_image(watcher, zoom, old, "the zoom box")
    assert network_psnr(page) == psnr

    if library is not None and page.locator(".alpha-explorer-acceleration select").count():
        other = 8 if library.selection["acceleration"] == 4 else 4  # switch to the acceleration not shown
        old = image_src(page, network)
        page.select_option(".alpha-explorer-acceleration select", label=f"{other}x")
        wait_for_new_image(watcher, network, old, "the acceleration")
        watcher.until(
            f"() => document.querySelector('.alpha-explorer-title').textContent.includes('{other}x')",
            f"AF {other} in the title",
        )
        library.select(acceleration=other)
        assert network_psnr(page) == pytest.approx(library.metrics(shown(page)["alpha"])["psnr"], abs=0.006)


def _copy_through_explorer(source: Path, target: Path) -> None:
    """Copy the notebook's cells up to and including the explorer's: the cells after it (sweeps, the
    triangle) are nbval's to run, and on a loaded machine they would only delay the slider test."""
    nb = json.loads(source.read_text())
    cut = next(i for i, c in enumerate(nb["cells"]) if "AlphaExplorer.from_checkpoints" in "".join(c["source"]))
    nb["cells"] = nb["cells"][: cut + 1]
    target.write_text(json.dumps(nb))


def _run_in_lab(
    page, watcher: PageWatcher, server: JupyterServer, notebook: Path, ready_js: str, t0: list[float]
) -> None:
    """Open ``notebook`` in JupyterLab, run all cells, wait for ``ready_js`` and for every cell to finish."""
    page.goto(server.page_url(notebook.name))
    watcher.until(
        "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
        " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
        " return !!(k && k.status === 'idle' && w.content && w.content.widgets && w.content.widgets.length); }",
        "the notebook and an idle kernel",
        timeout=60,
    )
    _phase("notebook open, kernel idle", t0)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    watcher.until(ready_js, "the widget to render", timeout=90)
    # let the remaining cells finish, so widget messages do not queue behind them
    watcher.until(
        "() => { const w = window.jupyterapp.shell.currentWidget; const k = w.sessionContext.session.kernel;"
        " const prompts = [...document.querySelectorAll('.jp-InputPrompt')].map(p => p.textContent);"
        " return k.status === 'idle' && !prompts.some(t => t.includes('*')); }",
        "all cells to finish",
        timeout=90,
    )
    _phase("cells run, widget rendered", t0)


def test_lab_notebook_slider(workdir: Path) -> None:
    """JupyterLab: run notebook 06 through its explorer; the automatic alpha, window, zoom and acceleration
    controls and the slider (keyboard and drag) update the images, and the PSNR shown is the library's."""
    root = workdir / "root"
    root.mkdir()
    library = None
    if LAB_NOTEBOOK.is_file() and _real_models_available():
        notebook = root / LAB_NOTEBOOK.name
        _copy_through_explorer(LAB_NOTEBOOK, notebook)
        library = _library_explorer(acceleration=8)  # notebook 06's explorer: AF 8, the first test volume
    else:
        notebook = standin_notebook(root / "explorer_fixture.ipynb")
    t0 = [time.monotonic()]
    with JupyterServer("lab", workdir, root) as server, launch_chromium(workdir / "chromium") as context:
        _phase("server + browser up", t0)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        watcher = PageWatcher(page, server)
        _run_in_lab(page, watcher, server, notebook, EXPLORER_READY_JS, t0)
        _exercise_controls(page, watcher, library)
        _phase("controls moved (automatic alpha, window, zoom, AF)", t0)
        _exercise_slider(page, watcher)
        _phase("slider moved (keys, drag)", t0)
        path = screenshot(page, "lab_slider.png")
        assert path.stat().st_size > 10_000
        watcher.check()


def test_voila_app_slider(workdir: Path) -> None:
    """Voila: the app renders without code; the automatic alpha, window, zoom and acceleration controls
    and the slider (keyboard and drag) update the images, and the PSNR shown is the library's."""
    library = None
    if VOILA_NOTEBOOK.is_file() and _real_models_available():
        root, name = VOILA_NOTEBOOK.parent, VOILA_NOTEBOOK.name
        library = _library_explorer()  # what the app shows, computed here
    else:
        root = workdir / "root"
        root.mkdir()
        name = standin_notebook(root / "alpha_explorer_fixture.ipynb").name
    t0 = [time.monotonic()]
    with (
        JupyterServer("voila", workdir, root, notebook=name) as server,
        launch_chromium(workdir / "chromium") as context,
    ):
        _phase("server + browser up", t0)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        watcher = PageWatcher(page, server)
        page.goto(server.page_url(), wait_until="commit")
        watcher.until(EXPLORER_READY_JS, "the explorer widget to render in Voila", timeout=90)
        _phase("app executed, explorer rendered", t0)
        visible_text = page.inner_text("body")
        assert "import" not in visible_text and "AlphaExplorer" not in visible_text, "Voila shows code"
        _exercise_controls(page, watcher, library)
        _phase("controls moved (automatic alpha, window, zoom, AF)", t0)
        _exercise_slider(page, watcher)
        _phase("slider moved (keys, drag)", t0)
        path = screenshot(page, "voila_explorer.png", full_page=True)
        assert path.stat().st_size > 10_000
        page.evaluate("() => document.querySelector('.alpha-explorer').scrollIntoView({block: 'start'})")
        assert screenshot(page, "voila_explorer_controls.png", full_page=True).stat().st_size > 10_000
        watcher.check()


def _exercise_triangle(page, watcher: PageWatcher) -> None:
    """Click, arrow keys and drag inside the triangle move the weights; the image changes and the PSNR
    shown equals the library's at the weights shown."""
    from recon_lib.teaching.explorer import TriangleExplorer

    models, item = make_triangle_standin()
    library = TriangleExplorer(models, item)

    def settled(old: str) -> dict:
        # settled: the kernel has answered the picker's latest weights (the last point of a drag included)
        watcher.until(
            "(old) => { const t = document.querySelector('table.triangle-metrics');"
            " const s = document.querySelector('.triangle-picker-svg');"
            " return t && s && t.dataset.weights !== old && t.dataset.weights === s.dataset.weights; }",
            f"the weights to leave {old} and match the picker",
            30,
            old,
        )
        watcher.until(
            "() => { const i = document.querySelector('img.triangle-network-image'); return i && i.complete; }",
            "the image",
            10,
        )
        now = page.evaluate(TRIANGLE_SHOWN_JS)
        weights = [float(v) for v in now["weights"].split(",")]
        assert sum(weights) == pytest.approx(1.0) and min(weights) >= 0
        assert now["psnr"] == pytest.approx(library.metrics(weights)["psnr"], abs=0.006), now
        return now

    start = page.evaluate(TRIANGLE_SHOWN_JS)
    assert start["weights"] == "0.00,1.00,0.00" and "SN-GAN 0.00" in start["readout"]
    svg = page.locator(".triangle-picker-svg").first
    svg.scroll_into_view_if_needed()
    box = svg.bounding_box()
    page.mouse.click(box["x"] + 0.5 * box["width"], box["y"] + 0.62 * box["height"])  # near the centroid
    clicked = settled(start["weights"])
    assert all(w > 0.1 for w in map(float, clicked["weights"].split(","))), clicked
    assert clicked["hash"] != start["hash"]

    svg.focus()
    for _ in range(2):
        page.keyboard.press("ArrowRight")  # 0.05 of weight from the SN to the SN-GAN, twice
        time.sleep(0.1)
    keyed = settled(clicked["weights"])
    before, after = (list(map(float, x["weights"].split(","))) for x in (clicked, keyed))
    assert after[1] == pytest.approx(before[1] - 0.1) and after[2] == pytest.approx(before[2] + 0.1)

    box = svg.bounding_box()  # the page may have scrolled
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.62 * box["height"])
    page.mouse.down()
    for k in range(1, 9):  # towards the SN-GAN corner (bottom right)
        page.mouse.move(box["x"] + (0.5 + 0.04 * k) * box["width"], box["y"] + (0.62 + 0.02 * k) * box["height"])
        time.sleep(0.05)
    page.mouse.up()
    dragged = settled(keyed["weights"])
    assert float(dragged["weights"].split(",")[2]) > after[2] and dragged["hash"] != keyed["hash"]


def test_voila_triangle_picker(workdir: Path) -> None:
    """Voila: the triangle picker by click, keys and drag (see :func:`_exercise_triangle`)."""
    root = workdir / "root"
    root.mkdir()
    name = triangle_notebook(root / "triangle_fixture.ipynb").name
    with (
        JupyterServer("voila", workdir, root, notebook=name) as server,
        launch_chromium(workdir / "chromium") as context,
    ):
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        watcher = PageWatcher(page, server)
        page.goto(server.page_url(), wait_until="commit")
        watcher.until(TRIANGLE_READY_JS, "the triangle explorer to render in Voila", timeout=90)
        _exercise_triangle(page, watcher)
        path = screenshot(page, "voila_triangle.png", full_page=True)
        assert path.stat().st_size > 10_000
        watcher.check()


def test_lab_triangle_picker(workdir: Path) -> None:
    """JupyterLab: the same triangle picker, run as a notebook cell."""
    root = workdir / "root"
    root.mkdir()
    notebook = triangle_notebook(root / "triangle_fixture.ipynb")
    t0 = [time.monotonic()]
    with JupyterServer("lab", workdir, root) as server, launch_chromium(workdir / "chromium") as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(30_000)
        watcher = PageWatcher(page, server)
        _run_in_lab(page, watcher, server, notebook, TRIANGLE_READY_JS, t0)
        _exercise_triangle(page, watcher)
        path = screenshot(page, "lab_triangle.png", element=".triangle-picker-svg")
        assert path.stat().st_size > 10_000
        watcher.check()


# ---- the harness's handling of bad conditions ------------------------------------------------
def test_missing_chromium_skips_with_install_hint(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(browser_harness, "CHROMIUM", str(tmp_path / "no-chromium"))
    with pytest.raises(pytest.skip.Exception, match=INSTALL_HINT):
        with launch_chromium(tmp_path / "profile"):
            pass


def test_busy_port_and_dead_kernel(workdir: Path, monkeypatch) -> None:
    """A taken port is replaced by a free one; a crashing kernel fails the wait at once, with its stack."""
    root = workdir / "root"
    root.mkdir()
    code_notebook(root / "crash.ipynb", ["import ctypes\nctypes.string_at(0)  # segfault"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        offered = iter([taken])
        real_free_port = browser_harness.free_port
        monkeypatch.setattr(browser_harness, "free_port", lambda: next(offered, None) or real_free_port())
        with (
            JupyterServer("voila", workdir, root, notebook="crash.ipynb") as server,
            launch_chromium(workdir / "chromium") as context,
        ):
            assert server.port != taken and "already in use" in server.log()
            with urllib.request.urlopen(f"{server.url}/voila/static/voila.js", timeout=10) as response:
                assert response.status == 200
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(server.page_url(), wait_until="commit")
            start = time.monotonic()
            with pytest.raises(AssertionError, match="(?s)the kernel died.*Segmentation fault.*string_at"):
                PageWatcher(page, server).until(EXPLORER_READY_JS, "the explorer", timeout=60)
            assert time.monotonic() - start < 30, "the dead kernel was noticed only by the timeout"
        assert server.proc is None
