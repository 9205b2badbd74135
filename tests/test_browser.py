"""Notebooks as a person uses them: JupyterLab in headless Chromium (Playwright), Run All, inspectors work.

Needs Debian's `chromium` and PyPI's `playwright` (`.ci/setup` installs both); skips only when one is missing.
The notebooks are copied to a temporary root, so nothing the browser does can touch the stored outputs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]
INSPECTORS = ["mal-audio-inspector", "mal-attention-inspector", "mal-parity-inspector", "mal-token-inspector",
              "mal-generation-inspector"]
RUN_TIMEOUT_S = 420  # a guard against hangs (a notebook with real weights runs for minutes on 2 loaded cores)


def _skip_reason() -> str | None:
    if not Path(CHROMIUM).is_file():
        return "chromium is not installed (apt-get install -y chromium; .ci/setup does it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -c constraints.txt playwright; in the test extra)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> None:
    """User settings of the throwaway Lab: no news / update prompts, no autosave, every cell in the DOM."""
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a free loopback port with a random token, over a copy of notebooks/."""
    base = tmp_path_factory.mktemp("lab")
    root = base / "root"
    shutil.copytree(ROOT / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    _settings(base / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(base / "config"), JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(base / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_PLATFORM_DIRS="1")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
           "--port", str(port), "--port-retries", "0", f"--ServerApp.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.news_url=", "--ServerApp.open_browser=False"]
    log = open(base / "server.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; log: {base / 'server.log'}\n"
                            + (base / "server.log").read_text()[-3000:])
            time.sleep(0.5)
    yield {"url": url, "token": token, "root": root}
    try:  # shuts the kernels down too
        req = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
        urllib.request.urlopen(req, timeout=5).read()
        proc.wait(timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    log.close()


# Cells of the open notebook as plain data, from the app object (`expose_app_in_browser`).
CELLS_JS = """() => {
  const nb = window.jupyterapp.shell.currentWidget.content;
  return nb.widgets.map(c => ({type: c.model.type, count: c.model.type === 'code' ? c.model.executionCount : null,
    outputs: c.model.type === 'code' ? c.model.outputs.toJSON().map(o => ({type: o.output_type,
      ename: o.ename || '', evalue: o.evalue || '', text: o.text ? String(o.text).slice(0, 300) : ''})) : []}));
}"""
KERNEL_JS = "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status || 'none'"


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception:  # a screenshot must never hide the real failure
        pass
    return path


def _run_all(page) -> None:
    """Run -> Run All Cells from the menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _wait_done(page, timeout_s: float) -> list[dict]:
    """Wait until every code cell has an execution count and the kernel is idle; return the cells."""
    deadline = time.monotonic() + timeout_s
    while True:
        cells = page.evaluate(CELLS_JS)
        code = [c for c in cells if c["type"] == "code"]
        errors = [o for c in code for o in c["outputs"] if o["type"] == "error"]
        done = all(c["count"] for c in code) and page.evaluate(KERNEL_JS) == "idle"
        if done or errors or time.monotonic() > deadline:
            return cells
        page.wait_for_timeout(1000)


def _interact(page, insp: str, control: str, option: str, expect: str) -> None:
    """Pick `option` in a dropdown of the inspector and wait for its status label (set by the kernel)."""
    box = page.locator(f".{insp}").first
    before = box.locator("img.mal-plot").get_attribute("src")
    box.locator(f".{control} select").select_option(label=option)
    box.locator(".mal-status", has_text=expect).wait_for(timeout=30000)
    page.wait_for_function("([sel, old]) => document.querySelector(sel)?.getAttribute('src') !== old",
                           arg=[f".{insp} img.mal-plot", before], timeout=30000)


@pytest.mark.parametrize("notebook", ["tour.ipynb", "stt/whisper.ipynb"])
def test_notebook_runs_and_inspectors_respond(lab, notebook, tmp_path):
    if not (ROOT / "notebooks" / notebook).is_file():
        pytest.skip(f"notebooks/{notebook}: notebook not present yet")
    from playwright.sync_api import sync_playwright

    name = notebook.replace("/", "_").removesuffix(".ipynb")
    # The OpenBLAS preload of .ci/test breaks Playwright's node driver (pthread_create fails): not for them.
    preload = os.environ.pop("LD_PRELOAD", None)
    try:
        pw = sync_playwright().start()
    finally:
        if preload is not None:
            os.environ["LD_PRELOAD"] = preload
    try:
        _drive(pw, notebook, name, tmp_path, lab)
    finally:
        pw.stop()


def _drive(p, notebook: str, name: str, tmp_path: Path, lab: dict) -> None:
    """Open the notebook, Run All, check outputs and inspectors, interact; screenshots under tmp_path."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True, env=env)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("dialog", lambda d: d.dismiss())
    try:
        # ?reset: a fresh workspace, so notebooks opened by an earlier test are not restored beside this one
        page.goto(f"{lab['url']}/lab/tree/notebooks/{notebook}?reset&token={lab['token']}", timeout=60000)
        page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(timeout=60000)
        page.wait_for_function(f"() => ({KERNEL_JS})() === 'idle'", timeout=60000)
        _run_all(page)
        cells = _wait_done(page, RUN_TIMEOUT_S)
        shot = _shot(page, tmp_path, f"{name}-after-run")
        errors = [f"{o['ename']}: {o['evalue']}" for c in cells for o in c["outputs"] if o["type"] == "error"]
        assert not errors, f"cells raised {errors}; screenshot {shot}"
        missing = [i for i, c in enumerate(cells) if c["type"] == "code" and not c["count"]]
        assert not missing, f"cells {missing} did not run within {RUN_TIMEOUT_S} s; screenshot {shot}"
        text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
        assert "Error displaying widget" not in text, f"a widget failed to render; screenshot {shot}"

        expected = INSPECTORS if notebook == "tour.ipynb" else []
        present = [c for c in INSPECTORS if page.locator(f".{c}").count()]
        assert set(expected) <= set(present), f"missing inspectors {set(expected) - set(present)}; {shot}"
        assert present, f"no inspector in {notebook}; screenshot {shot}"
        for c in present:  # each drew its plot once the browser showed it
            page.wait_for_function(
                "sel => (document.querySelector(sel)?.getAttribute('src') || '').startsWith('blob:')",
                arg=f".{c} img.mal-plot", timeout=30000)
        if "mal-attention-inspector" in present:
            _interact(page, "mal-attention-inspector", "mal-layer", "0", "layer 0")
        if "mal-parity-inspector" in present:
            first = page.locator(".mal-parity-inspector .mal-layer option").first.inner_text()
            _interact(page, "mal-parity-inspector", "mal-layer", first, first)
        if "mal-audio-inspector" in present:  # keyboard on the selection slider's left handle
            box = page.locator(".mal-audio-inspector").first
            box.locator(".mal-select .noUi-handle").first.focus()
            for _ in range(25):
                page.keyboard.press("ArrowRight")
            box.locator(".mal-status", has_text=re.compile(r"selection 0\.[1-9]")).wait_for(timeout=30000)
        _shot(page, tmp_path, f"{name}-after-interaction")
    except Exception as err:
        shot = _shot(page, tmp_path, f"{name}-failure")
        raise AssertionError(f"{notebook}: {err}\nscreenshots under {tmp_path} (last: {shot})") from err
    finally:
        browser.close()
