"""A real JupyterLab on 127.0.0.1 and Debian's Chromium, for the browser tests.

Everything the server reads or writes lives in temporary directories (config and user settings,
runtime, workspaces, notebooks, review database), the token is random, and the Jupyter news popup
and workspace restore are off, so a run never depends on, or changes, the machine's own setup. Each test module gets its own JupyterLab; a module sets ``REVIEWER_NAME`` to choose
`CoassistServer.reviewer_name` ("ana" unless it says otherwise; "" for a token-only server
where nobody has said who reviews).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.test_server_handlers import seed_review_db
from tests.tiny_models import build_tiny_causal_lm

REPO = Path(__file__).resolve().parents[2]

# Guard every step: a predicate that throws (the app not exposed yet on a slow start) fails
# wait_for_function at once instead of being retried.
KERNEL_IDLE = """() => {
  const app = window.jupyterapp;
  const panel = app && app.shell && app.shell.currentWidget;
  const context = panel && panel.sessionContext;
  return !!(context && context.isReady && context.session && context.session.kernel
            && context.kernelDisplayStatus === 'idle');
}"""


def run_command(page: Any, command: str) -> None:
    # Fire and forget: awaiting commands.execute in evaluate can hang (no timeout there).
    page.evaluate(f"() => {{ window.jupyterapp.commands.execute('{command}'); }}")


def write_notebook(lab: Lab, name: str, sources: Sequence[str]) -> str:
    """A Python 3 notebook of code cells with `sources`, in the lab's root; returns its path."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, lab.root / name)
    return name


def scripted_session_source(answer: str, *, load_ext: bool = True) -> str:
    """A cell that makes the kernel's assistant answer `answer` (a scripted model on its session)."""
    return (
        f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
        + ("%load_ext coassist\n" if load_ext else "")
        + "from coassist.notebook.session import get_session\n"
        "from tests.scripted_model import ScriptedModel\n"
        f"get_session(get_ipython()).model = lambda spec=None: ScriptedModel({answer!r})"
    )


def shown_text(page: Any, locator: Any) -> str:
    """`locator`'s text as drawn, once scrolled into view: JupyterLab does not draw cells off
    screen (their innerText is empty until they are)."""
    locator.scroll_into_view_if_needed()
    page.wait_for_function("(node) => node.innerText.trim() !== ''", arg=locator.element_handle())
    return locator.inner_text()


def open_notebook(browser_context: Any, lab: Lab, name: str) -> Any:
    """A new page showing notebook `name`, once its kernel is up and idle."""
    page = browser_context.new_page()
    page.goto(lab.page_url(f"lab/tree/{name}"))
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    return page


CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
SERVER_START_TIMEOUT = 60


@dataclass(frozen=True)
class Lab:
    url: str
    token: str
    root: Path
    db_url: str
    model_dir: Path

    def page_url(self, path: str) -> str:
        return f"{self.url}{path}?token={self.token}&reset"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    skip = pytest.mark.skip(
        reason=f"Chromium not found at {CHROMIUM}: apt-get install -y chromium, or set CHROMIUM_PATH"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> Iterator[None]:
    """Replaces pytest-jupyter's autouse fixtures (active once tests/test_server_handlers.py loads
    the plugin): they would take Playwright's running event loop as their own and fail closing it."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> Iterator[None]:
    """See `jp_asyncio_loop`: no in-process Jupyter server runs in the browser tests."""
    yield None


@pytest.fixture(scope="session")
def shots_dir() -> Path:
    path = Path(os.environ.get("SHOTS_DIR", "test-artifacts/screenshots"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, token: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            request = urllib.request.Request(f"{url}api/status", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(
        f"JupyterLab did not answer within {SERVER_START_TIMEOUT}s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="session")
def chatty_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama whose greedy answers are visible noise: all the browser needs to show."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("chatty-llama"), seed=0)


@pytest.fixture(scope="module")
def lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, chatty_model_dir: Path
) -> Iterator[Lab]:
    reviewer_name = getattr(request.module, "REVIEWER_NAME", "ana")
    # Inline completion answers with visible noise, unless the module asks for a real model.
    completion_model = getattr(request.module, "COMPLETION_MODEL", str(chatty_model_dir))
    base = tmp_path_factory.mktemp("lab")
    dirs = {name: base / name for name in ("root", "config", "runtime", "workspaces", "data")}
    for path in dirs.values():
        path.mkdir()
    # The announcements plugin ignores --LabApp.news_url=None; only disabling it stops the popup.
    (dirs["config"] / "labconfig").mkdir()
    (dirs["config"] / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}})
    )
    db_url = seed_review_db(base / "review.db")
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "COASSIST_DB": db_url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={dirs['root']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}", "--LabApp.expose_app_in_browser=True",
        f"--CoassistServer.model={completion_model}", f"--CoassistServer.db_url={db_url}",
        f"--CoassistServer.reviewer_name={reviewer_name}",
        "--CoassistServer.completion_max_new_tokens=12",
    ]  # fmt: skip
    log = base / "jupyterlab.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=dirs["root"])
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_up(url, token, process, log)
        yield Lab(url, token, dirs["root"], db_url, chatty_model_dir)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Module-scoped on purpose: Playwright's sync API keeps an asyncio loop marked running
    while it is open, which breaks every later test that runs its own loop (pytest-jupyter,
    nbclient). Closing it with the module ends that."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            viewport={"width": 1400, "height": 900},
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        context.set_default_timeout(30_000)
        yield context
        context.close()
