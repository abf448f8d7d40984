"""Browser fixtures for the explorer: Debian's Chromium through pytest-playwright, and a live app server.

Chromium is never downloaded (no ``playwright install``): the tests use ``/usr/bin/chromium`` (or
``$CNNLAB_CHROMIUM``). Without it they skip with the reason, except under CI (``CI`` set), where a missing
browser is a failure: ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: Script returning what overflows in the visible tab: the page wider than the window, or a card (or the
#: sidebar) whose content is wider than itself. ``[]`` when nothing does.
OVERFLOW_JS = """() => {
  const bad = [];
  if (document.documentElement.scrollWidth > window.innerWidth) {
    bad.push('page: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
  }
  document.querySelectorAll('.card-body, .sidebar-content').forEach(el => {
    if (el.offsetParent === null || el.scrollWidth <= el.clientWidth + 1) return;
    const card = el.closest('.card');
    const name = card ? card.querySelector('.card-header').textContent.trim() : 'sidebar';
    bad.push(name + ': ' + el.scrollWidth + ' > ' + el.clientWidth);
  });
  return bad;
}"""


def find_chromium() -> str | None:
    """The Chromium binary to drive, or None."""
    for candidate in (os.environ.get("CNNLAB_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    """Overrides pytest-playwright's: launch Debian's Chromium headless with no network side traffic."""
    path = find_chromium()
    if path is None:
        _missing("no Chromium found at /usr/bin/chromium (apt-get install chromium, or set CNNLAB_CHROMIUM)")
    return {"executable_path": path, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="module")
def playwright(_pw_api_request_contexts):
    """Overrides pytest-playwright's session-wide driver: one per test module, so that no Playwright (node)
    or Chromium process outlives the browser tests (other suites count this process's children)."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def browser_context_args(pytestconfig, playwright, device, base_url, _pw_artifacts_folder) -> dict:
    """pytest-playwright's, at the driver's (module) scope."""
    args: dict = dict(playwright.devices[device]) if device else {}
    if base_url:
        args["base_url"] = base_url
    if pytestconfig.getoption("--video") in ("on", "retain-on-failure"):
        args["record_video_dir"] = _pw_artifacts_folder.name
    return args


@pytest.fixture(scope="module")
def browser_type(playwright, browser_name: str):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="module")
def launch_browser(browser_type_launch_args: dict, browser_type):
    def launch(**kwargs):
        return browser_type.launch(**{**browser_type_launch_args, **kwargs})

    return launch


@pytest.fixture(scope="module")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()


def start_explorer(*args: str, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """Run ``cnnlab explore --port 0 ARGS`` in a subprocess; return it and the URL it printed."""
    cmd = [sys.executable, "-c", "import sys; from cnnlab.cli import main; sys.exit(main())"]
    proc = subprocess.Popen(
        [*cmd, "explore", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in lines:
            if "serving on " in line:
                return proc, line.split("serving on ", 1)[1].split()[0]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    raise RuntimeError(f"cnnlab explore did not start: {''.join(lines)}{err}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def explorer_url() -> str:
    """A live explorer without a run directory (one per module and xdist worker, on a free port)."""
    proc, url = start_explorer()
    yield url
    stop(proc)


@pytest.fixture(autouse=True)
def _patient_expect():
    """Generous waits: the machines running the suite are shared, and a first render imports matplotlib."""
    try:
        from playwright.sync_api import expect
    except ImportError:  # pragma: no cover - playwright is in the dev extra
        yield
        return
    expect.set_options(timeout=20_000)
    yield
    expect.set_options(timeout=5_000)
