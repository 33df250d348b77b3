"""Notebook 06 as a user runs it: opened in JupyterLab in a real browser (Debian's chromium driven by
Playwright), run with Run > Run All Cells on the smoke profile, no error output, and a screenshot of
its claims table in results/browser/. Opt-in (`make test-browser`): CI installs no chromium, and the
normal run does not collect this folder (pyproject's norecursedirs). 25 s on 2 busy cores (14 s of cells)."""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import papermill
import pytest

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (make test-browser does)")

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "06_multi_mnist.ipynb"  # the fastest smoke run
SHOT = ROOT / "results" / "browser" / "06_multi_mnist_smoke.png"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
RUN_ALL_S = 180  # the smoke run took 14 s with other work on both cores
# a fresh user's Lab, minus what gets in the way of a test: the news toast, and windowing (cells out
# of view left out of the page, so neither their prompts nor the screenshot would be complete)
SETTINGS = {"@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
            "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no {CHROMIUM}: sudo apt-get install chromium")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


@pytest.fixture
def lab(tmp_path):
    """JupyterLab serving a smoke-profile copy of the notebook from tmp_path/lab; stopped at the end."""
    served = tmp_path / "lab"  # the notebook and its results only: Lab's own files beside it, out of view
    served.mkdir()
    papermill.execute_notebook(str(NOTEBOOK), str(served / NOTEBOOK.name), prepare_only=True, kernel_name="python3",
                               parameters={"PROFILE": "smoke", "RESULTS_DIR": str(served / "results")})
    for plugin, values in SETTINGS.items():
        path = tmp_path / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(values))
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    log = (tmp_path / "lab.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.token={token}", f"--ServerApp.root_dir={served}"],
        cwd=served, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
                time.sleep(0.5)
        yield {"url": f"{base}/lab/tree/{NOTEBOOK.name}?token={token}", "api": base, "token": token,
               "folder": served}
    finally:
        server.send_signal(signal.SIGINT)  # twice: the first asks, the second confirms the shutdown
        time.sleep(0.5)
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # its own session: the server and the kernel it started
            server.wait(timeout=10)
        log.close()


def _kernel_states(lab):
    return [k["execution_state"] for k in _get(f"{lab['api']}/api/kernels?token={lab['token']}")]


def _wait(condition, seconds, what, every=1.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(every)


def test_notebook_06_runs_in_jupyterlab_without_errors(lab):
    saved_file = lab["folder"] / NOTEBOOK.name
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=60_000)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})
            page.set_default_timeout(60_000)
            try:
                counts, stderr = _run_all_and_save(page, lab, saved_file)
                # what a user sees of the verdicts: the claims heading at the top of the panel, the table below
                heading = page.locator(".jp-MarkdownOutput h2", has_text=re.compile(r"claims", re.I)).last
                heading.evaluate("node => node.scrollIntoView({block: 'start'})")
                page.wait_for_timeout(500)
                SHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SHOT))
            except Exception:
                _keep_page(page, lab["folder"])
                raise
        finally:
            browser.close()
    saved = [c for c in json.loads(saved_file.read_text())["cells"] if c["cell_type"] == "code"]
    errors = [f"{o['ename']}: {o['evalue']}" for c in saved for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, errors
    assert not [t for t in stderr if re.search(r"Traceback|Error\b", t)], "\n\n".join(stderr)[-4000:]
    assert all(re.fullmatch(r"\[\d+\]:", c) for c in counts), counts  # every code cell ran
    assert (lab["folder"] / "results" / "06_multi_mnist" / "smoke" / "metrics.json").is_file()


def _run_all_and_save(page, lab, saved_file):
    """Run > Run All Cells, wait for the queue to end (every cell run, or stopped at an error) and save
    with Ctrl+S, as a user would; the input prompts and the stderr outputs shown, as the page shows them."""
    page.goto(lab["url"])
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    _wait(lambda: _kernel_states(lab) == ["idle"], 60, "the kernel to start")
    page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
    prompts = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt")

    def shown():
        return [t.strip() for t in prompts.all_inner_texts()]

    started = time.monotonic()
    _wait(lambda: "[*]:" in shown() or all(re.fullmatch(r"\[\d+\]:", t) for t in shown()), 30,
          "Run All Cells to start", every=0.2)
    _wait(lambda: "[*]:" not in shown() and _kernel_states(lab) == ["idle"], RUN_ALL_S, "the cells to run", every=2)
    print(f"run all cells: {time.monotonic() - started:.0f} s for {prompts.count()} code cells")
    counted = sum(bool(re.fullmatch(r"\[\d+\]:", t)) for t in shown())
    page.keyboard.press("Control+s")
    _wait(lambda: _saved_counts(saved_file) == counted, 30, "the notebook to be saved")
    stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    return shown(), stderr


def _saved_counts(path):
    try:
        return sum(bool(c.get("execution_count")) for c in json.loads(path.read_text())["cells"])
    except (OSError, ValueError):
        return -1


def _keep_page(page, folder):
    """The page as it failed, beside the notebook (pytest keeps a failed test's tmp folder)."""
    try:
        page.screenshot(path=str(folder / "failure.png"))
        (folder / "failure.html").write_text(page.content())
    except Exception as e:  # a crashed page: the test's own error matters more
        print(f"no failure screenshot: {e}")
