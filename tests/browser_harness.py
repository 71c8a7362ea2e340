"""Helpers for the explorer tests: a synthetic stand-in slice and models, and real-browser drivers.

* :func:`make_standin` -- a seeded multi-coil slice (a knee-like phantom, smooth 15-coil maps, a
  variable-density mask) and two ``SensitivityNetwork`` models of one architecture, the second
  a perturbed copy of the first (a stand-in for SN / SN-GAN when no checkpoint is at hand).
* :class:`JupyterServer` -- ``jupyter lab`` or ``voila`` on 127.0.0.1 at a free port, with a
  token, inside temporary Jupyter runtime / config / data folders (kernelspecs still come from
  the venv's ``sys.prefix``), shut down with its whole process group whatever happens.
* :func:`launch_chromium` -- Playwright with Debian's Chromium (``/usr/bin/chromium``; never
  ``playwright install``), or ``pytest.skip`` saying what to install.
* Page helpers: wait for the explorer to render, read the shown image and metrics, move the
  slider with the keyboard and with the mouse, and fail fast with the kernel's error when the
  kernel dies.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "outputs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_HINT = "apt-get install --no-install-recommends chromium"


# ---- synthetic stand-in ------------------------------------------------------------------------
def _phantom(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A knee-like magnitude phantom: two bones with marrow texture, cartilage, soft tissue."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    image = np.zeros((h, w))
    image[(xx / 0.8) ** 2 + (yy / 0.98) ** 2 < 1] = 0.35  # soft tissue
    texture = rng.standard_normal((h, w))
    kernel = np.exp(-0.5 * (np.arange(-3, 4) / 1.2) ** 2)
    for axis in (0, 1):
        texture = np.apply_along_axis(lambda v: np.convolve(v, kernel / kernel.sum(), mode="same"), axis, texture)
    femur = (xx / 0.42) ** 2 + ((yy + 0.55) / 0.5) ** 2 < 1
    tibia = (xx / 0.46) ** 2 + ((yy - 0.6) / 0.45) ** 2 < 1
    for bone in (femur, tibia):
        image[bone] = 0.75 + 0.25 * texture[bone] / texture.std()
    cartilage = ((xx / 0.44) ** 2 + ((yy + 0.52) / 0.5) ** 2 < 1.12) & ~femur & (yy > -0.2)
    image[cartilage] = 1.0
    return np.clip(image, 0, None)


def _maps(coils: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth coil maps around the field of view, normalised to ``sum_c |S_c|^2 = 1``."""
    yy, xx = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    maps = np.zeros((coils, h, w), dtype=np.complex128)
    for c in range(coils):
        angle = 2 * np.pi * c / coils
        cy, cx = 1.4 * np.sin(angle), 1.4 * np.cos(angle)
        magnitude = 1.0 / (1.0 + 1.5 * ((xx - cx) ** 2 + (yy - cy) ** 2))
        phase = rng.uniform(-1, 1) * xx + rng.uniform(-1, 1) * yy + rng.uniform(-np.pi, np.pi)
        maps[c] = magnitude * np.exp(1j * phase)
    return maps / np.sqrt((np.abs(maps) ** 2).sum(axis=0, keepdims=True))


def make_standin(
    coils: int = 15,
    shape: tuple[int, int] = (160, 184),
    target_shape: tuple[int, int] = (160, 160),
    num_cascades: int = 5,
    features: int = 16,
    acceleration: int = 8,
    seed: int = 0,
) -> tuple[torch.nn.Module, torch.nn.Module, dict[str, Any]]:
    """Two ``SensitivityNetwork`` models of one architecture and one synthetic dataset-like item.

    The second model is the first with every floating tensor perturbed by 30 % of its standard
    deviation (seeded), so their outputs differ visibly. The item follows ``KneeDataset``:
    ``kspace`` / ``maps`` ``(C, H, W)`` complex64, ``mask`` ``(1, 1, W)``, ``target`` ``(rh, rw)``
    float32, ``foreground`` bool, ``max``, ``fname``, ``slice``, ``acquisition``.
    """
    from recon_lib.core.tensors import center_crop
    from recon_lib.models.sensitivity_network import SensitivityNetwork
    from recon_lib.physics.coils import sens_expand
    from recon_lib.physics.masks import mask_to_tensor, sample_mask

    rng = np.random.default_rng(seed)
    h, w = shape
    image = _phantom(h, w, rng)
    maps = torch.from_numpy(_maps(coils, h, w, rng).astype(np.complex64))[None]  # (1, C, H, W)
    x = torch.from_numpy(image.astype(np.complex64))[None]  # (1, H, W)
    full = sens_expand(x, maps)  # (1, C, H, W) k-space
    noise = torch.from_numpy(
        (rng.standard_normal(full.shape) + 1j * rng.standard_normal(full.shape)).astype(np.complex64)
    )
    full = full + 0.004 * float(full.abs().max()) * noise / 30
    mask = mask_to_tensor(
        sample_mask(w, 0.08 if acceleration == 4 else 0.04, acceleration, seed=seed), ndim=3
    )  # (1, 1, W)
    target = center_crop(torch.from_numpy(image.astype(np.float32)), target_shape)
    foreground = target > 0.05

    torch.manual_seed(seed)
    sn = SensitivityNetwork(num_cascades=num_cascades, features=features).eval()
    gan = SensitivityNetwork(num_cascades=num_cascades, features=features).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        # an untrained block adds a large random residual: damp the SN's output convolutions so
        # it stays near the data-consistent zero-filled image, and perturb a copy for the "GAN"
        for name, value in sn.state_dict().items():
            if ".tail." in name:
                value.mul_(0.05)
        sd = {k: v.clone() for k, v in sn.state_dict().items()}
        for key, value in sd.items():
            if value.is_floating_point() and value.numel() > 1:
                value += 0.3 * value.std() * torch.randn(value.shape, generator=g)
            if ".tail." in key:
                value.mul_(6.0)
        gan.load_state_dict(sd)
    item = {
        "kspace": (full[0] * mask).to(torch.complex64),
        "maps": maps[0],
        "mask": mask,
        "target": target,
        "foreground": foreground,
        "max": float(target.max()),
        "fname": "standin.h5",
        "slice": 0,
        "acquisition": "CORPD_FBK",
    }
    return sn, gan, item


# ---- notebooks ---------------------------------------------------------------------------------
TRIANGLE_STANDIN = dict(coils=8, shape=(128, 144), target_shape=(128, 128), num_cascades=2, features=8)


def make_triangle_standin(**sizes: Any) -> tuple[list[torch.nn.Module], dict[str, Any]]:
    """Three stand-in models of one architecture (pre-trained SN, SN, SN-GAN) and one item: the
    :func:`make_standin` pair (``sizes``, default :data:`TRIANGLE_STANDIN`), and the SN perturbed
    (seeded) as the pre-trained corner."""
    import copy

    sn, gan, item = make_standin(**(sizes or TRIANGLE_STANDIN))
    pre = copy.deepcopy(sn)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in pre.parameters():
            scale = p.std() if p.numel() > 1 else p.abs().mean()
            p.add_(0.3 * scale * torch.randn(p.shape, generator=g))
    return [pre, sn, gan], item


def triangle_notebook(path: Path) -> Path:
    """A notebook showing a ``TriangleExplorer`` on :func:`make_triangle_standin` (browser tests)."""
    return code_notebook(
        path,
        [
            "import sys, torch\n"
            f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
            "torch.set_num_threads(1)\n"
            "from browser_harness import make_triangle_standin\n"
            "from recon_lib.teaching.explorer import TriangleExplorer\n"
            "models, item = make_triangle_standin()",
            "triangle = TriangleExplorer(models, item)\ntriangle",
        ],
    )


TRIANGLE_READY_JS = """() => {
    const svg = document.querySelector('.triangle-picker-svg');
    const img = document.querySelector('img.triangle-network-image');
    const table = document.querySelector('table.triangle-metrics');
    return !!(svg && img && img.complete && img.naturalWidth > 0 && table);
}"""

TRIANGLE_SHOWN_JS = """async () => {
    const img = document.querySelector('img.triangle-network-image');
    const table = document.querySelector('table.triangle-metrics');
    table.scrollIntoView({block: 'center'});
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let h = 0x811c9dc5;
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 16777619) >>> 0;
    const psnr = table.querySelector('tbody tr td').textContent;
    return {hash: h.toString(16) + ':' + bytes.length, weights: table.dataset.weights, psnr: parseFloat(psnr),
            readout: document.querySelector('.triangle-picker-readout').textContent};
}"""


def code_notebook(path: Path, sources: list[str]) -> Path:
    """Write a notebook of code cells (python3 kernel)."""
    cells = [
        {"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "execution_count": None, "outputs": [], "source": src}
        for i, src in enumerate(sources)
    ]
    return _write_notebook(path, cells)


def _write_notebook(path: Path, cells: list[dict[str, Any]]) -> Path:
    notebook = {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))
    return path


def standin_notebook(path: Path, title: str = "Alpha explorer (stand-in models)") -> Path:
    """Write a notebook that shows an ``AlphaExplorer`` on :func:`make_standin` (for the browser tests)."""
    cells = [
        {
            "cell_type": "markdown",
            "id": "title",
            "metadata": {},
            "source": f"# {title}\nSynthetic slice, perturbed stand-in models.",
        },
        {
            "cell_type": "code",
            "id": "setup",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": (
                "import sys, torch\n"
                f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
                "torch.set_num_threads(1)  # robust on a loaded CI machine\n"
                "from browser_harness import make_standin\n"
                "from recon_lib.teaching.explorer import AlphaExplorer\n"
                "sn, gan, item = make_standin(\n"
                "    coils=8, shape=(128, 144), target_shape=(128, 128), num_cascades=2, features=8\n"
                ")"
            ),
        },
        {
            "cell_type": "code",
            "id": "explorer",
            "metadata": {},
            "execution_count": None,
            "outputs": [],
            "source": "explorer = AlphaExplorer(sn, gan, item)\nexplorer",
        },
    ]
    return _write_notebook(path, cells)


# ---- servers -----------------------------------------------------------------------------------
KERNEL_DEATH_PATTERNS = (
    "Fatal Python error",
    "restarting kernel",
    "KernelRestarter: restart failed",
    "Kernel died",
    "kernel died",
    "Dead kernel",
)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the server retries if it is taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_time(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot), None if it is gone."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def _descendants(pid: int) -> dict[int, int]:
    """Processes below ``pid`` (children, grandchildren, ...) as ``{pid: start time}``, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: dict[int, int] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            started = _start_time(child)
            if started is not None:
                found[child] = started
            todo.append(child)
    return found


class ServerError(RuntimeError):
    """The Jupyter / Voila server did not start, or its kernel died."""


class JupyterServer:
    """``jupyter lab`` or ``voila`` on 127.0.0.1 at a free port, with a token, isolated in ``workdir``.

    Args:
        kind: ``"lab"`` or ``"voila"``.
        workdir: a temporary folder: Jupyter's runtime / config / data folders, IPython's folder
            and the server log go there (kernelspecs still come from the venv's ``sys.prefix``).
        root_dir: the folder the server serves.
        notebook: for Voila, the notebook to serve (relative to ``root_dir``).
        startup_timeout: seconds to wait for the server to answer.

    Use as a context manager; :meth:`stop` always shuts the server, its kernels and their
    process groups down.
    """

    def __init__(
        self, kind: str, workdir: Path, root_dir: Path, notebook: str | None = None, startup_timeout: float = 60.0
    ) -> None:
        if kind not in ("lab", "voila"):
            raise ValueError(f"kind must be 'lab' or 'voila', got {kind!r}")
        self.kind = kind
        self.workdir = Path(workdir)
        self.root_dir = Path(root_dir)
        self.notebook = notebook
        self.startup_timeout = startup_timeout
        self.token = os.urandom(16).hex()
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / f"{kind}-server.log"
        self.fault_log = self.workdir / "kernel-faults.log"
        self._log_file: Any = None
        self._known_children: dict[int, int] = {}  # pid -> start time

    # environment and command line
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, sub in (
            ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
            ("JUPYTER_CONFIG_DIR", "jupyter-config"),
            ("JUPYTER_DATA_DIR", "jupyter-data"),
            ("IPYTHONDIR", "ipython"),
            ("MPLCONFIGDIR", "matplotlib"),
        ):
            path = self.workdir / sub
            path.mkdir(parents=True, exist_ok=True)
            env[name] = str(path)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env["MPLBACKEND"] = "Agg"
        env.setdefault("RECON_QUICK", "1")
        env["PYTHONUNBUFFERED"] = "1"
        # a kernel that crashes (segfault, abort) writes its Python stack here (IPython startup file)
        startup = self.workdir / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-fault-log.py").write_text(
            "import faulthandler as _fh\n"
            f"_fh.enable(file=open({str(self.fault_log)!r}, 'a'), all_threads=False)\n"
            "del _fh\n"
        )
        # Lab user settings: never autosave a notebook opened by a test.
        settings = self.workdir / "jupyter-config" / "lab" / "user-settings" / "@jupyterlab" / "docmanager-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
        news = self.workdir / "jupyter-config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True, exist_ok=True)
        (news / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        return env

    def command(self, port: int) -> list[str]:
        root_flag = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        if self.kind == "lab":
            return [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--ServerApp.port_retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root_dir}",
                "--LabApp.expose_app_in_browser=True",
                f"--LabApp.workspaces_dir={self.workdir / 'workspaces'}",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                *root_flag,
            ]
        return [
            sys.executable,
            "-m",
            "voila",
            str(self.notebook),
            "--no-browser",
            "--Voila.ip=127.0.0.1",
            f"--port={port}",
            "--Voila.port_retries=0",
            f"--token={self.token}",
            f"--Voila.root_dir={self.root_dir}",
            "--show_tracebacks=True",
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def page_url(self, path: str = "") -> str:
        """The URL of ``path`` (Lab: a notebook relative to ``root_dir``; Voila: the app) with the token."""
        if self.kind == "lab":
            return f"{self.url}/lab/tree/{path}?token={self.token}"
        return f"{self.url}/?token={self.token}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    # life cycle
    def start(self, attempts: int = 4) -> JupyterServer:
        last = ""
        for _ in range(attempts):
            port = free_port()
            self._log_file = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                self.command(port),
                cwd=self.root_dir,
                env=self.env(),
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.port = port
            status = self._wait_ready()
            if status == "ready":
                return self
            last = self.log_tail()
            self.stop()
            if status != "port-in-use":
                break
        raise ServerError(f"{self.kind} server did not start; log tail:\n{last}")

    def _wait_ready(self) -> str:
        import urllib.error
        import urllib.request

        probe = (
            f"{self.url}/api/status?token={self.token}" if self.kind == "lab" else self.url + "/voila/static/voila.js"
        )
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                text = self.log()
                return "port-in-use" if "already in use" in text or "Address already" in text else "exited"
            try:
                with urllib.request.urlopen(probe, timeout=2) as response:
                    if response.status < 500:
                        return "ready"
            except urllib.error.HTTPError as err:
                if err.code < 500:
                    return "ready"
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        return "timeout"

    def remember_children(self) -> None:
        """Note the server's current descendants (kernels run in their own sessions)."""
        if self.proc is not None and self.proc.poll() is None:
            self._known_children.update(_descendants(self.proc.pid))

    def kernel_error(self) -> str | None:
        """What the server log and the kernels' fault log say about a dead kernel, or None."""
        text = self.log()
        hits = [line for line in text.splitlines() if any(p in line for p in KERNEL_DEATH_PATTERNS)]
        try:
            faults = self.fault_log.read_text(errors="replace").strip()
        except OSError:
            faults = ""
        if faults:
            hits.append("the kernel's fault handler wrote:\n" + faults[-3000:])
        return "\n".join(hits) if hits else None

    def stop(self) -> None:
        """Shut the server down (politely, then SIGTERM / SIGKILL to its process group and kernels)."""
        proc = self.proc
        if proc is not None:
            self.remember_children()
            if proc.poll() is None and self.kind == "lab":
                import urllib.request

                with contextlib.suppress(Exception):
                    request = urllib.request.Request(f"{self.url}/api/shutdown?token={self.token}", method="POST")
                    urllib.request.urlopen(request, timeout=3).close()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=8)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=8)
            # kernels started by the server live in their own sessions: end them by id
            for pid, started in sorted(self._known_children.items()):
                if _start_time(pid) != started:  # gone (or the id was reused by another process)
                    continue
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    if os.getpgid(pid) == pid:
                        os.killpg(pid, signal.SIGKILL)
                    else:
                        os.kill(pid, signal.SIGKILL)
            self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> JupyterServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ---- browser -----------------------------------------------------------------------------------
@contextlib.contextmanager
def launch_chromium(profile_dir: Path, width: int = 1400, height: int = 1250) -> Iterator[Any]:
    """A Playwright persistent context on Debian's Chromium; skips the test when it is missing."""
    import pytest

    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium ({INSTALL_HINT})")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser tests need Playwright for Python (pip install playwright; no `playwright install`)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            yield context
        finally:
            context.close()


class PageWatcher:
    """Polls a page until a condition holds, failing early on a dead kernel or an error output."""

    ERROR_JS = """() => {
        const errors = [], stderr = [];
        for (const el of document.querySelectorAll(
                '[data-mime-type="application/vnd.jupyter.stderr"], .jp-OutputArea-output.jp-mod-error')) {
            const t = el.textContent || '';
            stderr.push(t);
            if (/Traceback|Error:|Exception|Fatal Python error/.test(t)) errors.push(t);
        }
        const body = document.body ? document.body.textContent : '';
        for (const marker of ['Kernel Restarting', 'appears to have died', 'There was an error when executing cell']) {
            if (body.includes(marker)) errors.push(marker);
        }
        return {errors: errors.join('\n---\n'), stderr: stderr.join('\n')};
    }"""

    def __init__(self, page: Any, server: JupyterServer) -> None:
        self.page = page
        self.server = server

    def check(self) -> None:
        """Raise ``AssertionError`` with the kernel's / cell's error if something died."""
        self.server.remember_children()
        died = self.server.kernel_error()
        try:
            page = self.page.evaluate(self.ERROR_JS)
        except Exception as err:  # noqa: BLE001 - a page mid-navigation cannot be read
            page = {"errors": "", "stderr": f"(page not readable: {err})"}
        if died:
            raise AssertionError(
                f"the kernel died:\n{died}\n--- the kernel's stderr in the page ---\n{page['stderr'][-4000:]}"
                f"\n--- server log tail ---\n{self.server.log_tail(60)}"
            )
        if page["errors"]:
            raise AssertionError(
                f"the notebook raised an error:\n{page['errors'][:4000]}\n"
                f"--- server log tail ---\n{self.server.log_tail(20)}"
            )

    def until(self, js: str, what: str, timeout: float = 60.0, arg: Any = None) -> Any:
        """Wait for the JS predicate ``js`` (a function source) to return a truthy value.

        The predicate is polled inside the page (every 100 ms); between 2-second slices the
        kernel and the error outputs are checked, so a dead kernel fails at once.
        """
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        deadline = time.monotonic() + timeout
        while True:
            try:
                handle = self.page.wait_for_function(js, arg=arg, polling=100, timeout=2000)
                return handle.json_value()
            except PlaywrightTimeout:
                pass
            self.check()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout:.0f} s waiting for {what}\n"
                    f"--- server log tail ---\n{self.server.log_tail(20)}"
                )


EXPLORER_READY_JS = """() => {
    const slider = document.querySelector('.alpha-explorer-slider .noUi-handle');
    const img = document.querySelector('img.alpha-explorer-network-image');
    const table = document.querySelector('.alpha-explorer-metrics table');
    return !!(slider && img && img.complete && img.naturalWidth > 0 && table)
        && !document.body.textContent.includes('Loading widget');
}"""

SHOWN_JS = """async () => {
    const img = document.querySelector('img.alpha-explorer-network-image');
    const table = document.querySelector('.alpha-explorer-metrics table');
    // JupyterLab skips rendering cells outside the viewport (content-visibility), and innerText
    // of an unrendered table is empty: bring the explorer into view before reading it
    table.scrollIntoView({block: 'center'});
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let h1 = 0x811c9dc5, h2 = 0;
    for (let i = 0; i < bytes.length; i++) {
      h1 = Math.imul(h1 ^ bytes[i], 16777619) >>> 0; h2 = (h2 + bytes[i] * (i % 251 + 1)) >>> 0;
    }
    return {hash: h1.toString(16) + ':' + h2.toString(16) + ':' + bytes.length,
            alpha: parseFloat(table.dataset.alpha), metrics: table.innerText,
            readout: (document.querySelector('.alpha-explorer-slider .widget-readout') || {}).innerText || ''};
}"""


def shown(page: Any) -> dict[str, Any]:
    """What the explorer shows now: a hash of the network image's PNG bytes, alpha, metrics text."""
    return page.evaluate(SHOWN_JS)


def wait_for_alpha_change(watcher: PageWatcher, old_alpha: float, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until the metrics table reports an alpha other than ``old_alpha``; returns :func:`shown`."""
    # settled: the kernel has answered the slider's latest value (queued key presses included)
    watcher.until(
        "(old) => { const t = document.querySelector('.alpha-explorer-metrics table');"
        " const r = document.querySelector('.alpha-explorer-slider .widget-readout');"
        " if (!t || !r) return false; const a = parseFloat(t.dataset.alpha), v = parseFloat(r.innerText);"
        " return Math.abs(a - old) > 1e-6 && Math.abs(a - v) < 5e-3; }",
        f"the explorer to leave alpha = {old_alpha} and match the slider",
        timeout,
        old_alpha,
    )
    # the image widget and the table are updated in one message; give the blob a moment to load
    watcher.until(
        "() => { const i = document.querySelector('img.alpha-explorer-network-image'); return i && i.complete; }",
        "the image",
        10,
    )
    return shown(watcher.page)


def press_arrows(page: Any, count: int, key: str = "ArrowRight") -> None:
    """Focus the slider handle and press an arrow key ``count`` times."""
    handle = page.locator(".alpha-explorer-slider .noUi-handle").first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(count):
        page.keyboard.press(key)
        time.sleep(0.05)


def drag_slider(page: Any, fraction: float) -> None:
    """Drag the slider handle by ``fraction`` of the track width (mouse down, move, up)."""
    handle = page.locator(".alpha-explorer-slider .noUi-handle").first
    track = page.locator(".alpha-explorer-slider .noUi-target").first
    handle.scroll_into_view_if_needed()
    hb, tb = handle.bounding_box(), track.bounding_box()
    x, y = hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + fraction * tb["width"], y, steps=12)
    page.mouse.up()


def screenshot(page: Any, name: str, full_page: bool = False, element: str = ".alpha-explorer") -> Path:
    """Save a screenshot under ``outputs/screenshots/``: the viewport with ``element`` (the explorer)
    scrolled into view (JupyterLab scrolls inside its panel), or the whole page (``full_page``, Voila)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    if full_page:
        page.evaluate("() => window.scrollTo(0, 0)")
    else:
        page.locator(element).first.scroll_into_view_if_needed()
    page.screenshot(path=str(path), full_page=full_page)
    return path


# ---- the explorer's other controls ---------------------------------------------------------------
def image_src(page: Any, selector: str) -> str:
    """The ``src`` (a blob URL, new for every new PNG) of the first image matching ``selector``."""
    return page.evaluate("(sel) => document.querySelector(sel).src", selector)


def wait_for_new_image(watcher: PageWatcher, selector: str, old_src: str, what: str, timeout: float = 30.0) -> None:
    """Wait until the image ``selector`` shows a new PNG (its blob URL changed) and has loaded."""
    watcher.until(
        "([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old && i.complete; }",
        f"{what} to change the image {selector}",
        timeout,
        [selector, old_src],
    )


def network_psnr(page: Any) -> float:
    """The PSNR the metrics table shows for the interpolated network."""
    return page.evaluate(
        "() => parseFloat(document.querySelector("
        "'.alpha-explorer-metrics td.col-network[data-metric=\"psnr\"]').textContent)"
    )


def press_on(page: Any, selector: str, key: str, count: int, handle: int = 0) -> None:
    """Focus handle number ``handle`` of the slider ``selector`` and press ``key`` ``count`` times."""
    target = page.locator(f"{selector} .noUi-handle").nth(handle)
    target.scroll_into_view_if_needed()
    target.focus()
    for _ in range(count):
        page.keyboard.press(key)
        time.sleep(0.05)
