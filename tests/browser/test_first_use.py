"""The first `%%assist` of a fresh install, in a real JupyterLab + Chromium, on the real default
model (SmolLM2 with coassist's adapter) with an empty model cache: the answer's place says the
model is loading, the answer streams over it, and the saved notebook holds the answer with its
provenance and no progress bars. Then the ghost text after Enter (asked for again while the
server's first load outlasts a request's deadline), accepted, keeps the editor's indentation.
Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from coassist.notebook.magics import LOADING_NOTICE
from coassist.server.completion import DEADLINE_SECONDS
from tests.browser.conftest import KERNEL_IDLE, Lab, open_notebook, run_command, write_notebook
from tests.browser.test_lab import RECORD_OUTPUTS

pytestmark = [pytest.mark.browser, pytest.mark.slow]

COMPLETION_MODEL = "coassist"  # the server's inline completion: the product's default

# Dequantising the GGUF takes about 20 s on a laptop, several times that on a busy 2-core runner.
FIRST_ANSWER_TIMEOUT_MS = 400_000

# Every kernel status the page receives, with the request it answers, and what the status bar
# shows: to tell a kernel that claims "idle" from a front end that shows it.
RECORD_STATUS = """() => {
  window.__statuses = [];
  window.__shown = [];
  const context = window.jupyterapp.shell.currentWidget.sessionContext;
  context.session.kernel.iopubMessage.connect((_, msg) => {
    if (msg.header.msg_type === 'status')
      window.__statuses.push([msg.content.execution_state, msg.parent_header.msg_type]);
  });
  window.__poll = setInterval(() => window.__shown.push(context.kernelDisplayStatus), 250);
}"""


def write_first_use_notebook(lab: Lab, cache: Path) -> str:
    setup = (
        f"%env COASSIST_CACHE={cache}\n%load_ext coassist\n"
        "%config Assist.max_new_tokens = 48\n%config Assist.temperature = 0"
    )
    return write_notebook(
        lab, "first-use.ipynb", [setup, "%%assist\nWrite a Python function that adds two numbers."]
    )


def saved_assist_cell(path: Path) -> dict[str, Any] | None:
    """The %%assist cell as saved on disk, once its answer is there."""
    cell = json.loads(path.read_text())["cells"][1]
    return cell if any("coassist" in output.get("metadata", {}) for output in cell["outputs"]) else None


def test_first_assist_loads_smollm2_streams_and_saves_clean(
    lab: Lab, browser_context: Any, shots_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cache = tmp_path_factory.mktemp("empty-coassist-cache")
    page = open_notebook(browser_context, lab, write_first_use_notebook(lab, cache))
    try:
        page.evaluate(RECORD_OUTPUTS)
        page.evaluate(RECORD_STATUS)
        started = time.monotonic()
        run_command(page, "notebook:run-all-cells")
        output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")

        output.filter(has_text=LOADING_NOTICE).wait_for(timeout=60_000)
        noticed = time.monotonic() - started
        page.screenshot(path=shots_dir / "11-first-use-loading.png")

        # The answer is rendered Markdown from its first word; it is whole once the kernel is idle.
        output.locator(".jp-RenderedHTML").wait_for(timeout=FIRST_ANSWER_TIMEOUT_MS)
        answered = time.monotonic() - started
        page.wait_for_function(KERNEL_IDLE, timeout=FIRST_ANSWER_TIMEOUT_MS)
        page.evaluate("() => clearInterval(window.__poll)")
        page.screenshot(path=shots_dir / "12-first-use-answer.png")

        outputs: list[str] = page.evaluate("() => window.__outputs")
        statuses: list[list[str]] = page.evaluate("() => window.__statuses")
        shown: list[str] = page.evaluate("() => window.__shown")
        print(f"\nfirst-use timing: notice after {noticed:.1f} s, first words after {answered:.1f} s")

        loading = [i for i, text in enumerate(outputs) if LOADING_NOTICE in text]
        streaming = [i for i, text in enumerate(outputs) if "▌" in text]
        assert loading, outputs
        assert len(streaming) >= 2, outputs  # the output changed several times while streaming
        assert max(loading) < min(streaming), outputs  # the notice is gone once the answer streams
        final = output.inner_text()
        assert LOADING_NOTICE not in final and final.strip()
        assert "%|" not in final and "Loading weights" not in final and "de-quantizing" not in final
        assert list(cache.iterdir()), "the model was not dequantised into the empty cache"
        # The status bar said "busy" for the whole %%assist run, first load included. (Progress
        # widgets made JupyterLab open a comm subshell, whose "idle" status it showed.)
        during = "".join(state[0] for state in shown).strip("i")
        assert set(during) <= {"b"}, (shown, statuses)

        run_command(page, "docmanager:save")
        deadline = time.monotonic() + 30
        while (cell := saved_assist_cell(lab.root / "first-use.ipynb")) is None:
            assert time.monotonic() < deadline, "the notebook was not saved with the answer"
            time.sleep(0.5)
    finally:
        page.close()

    [saved] = cell["outputs"]  # one answer: no stderr bars, no progress widgets beside it
    assert saved["output_type"] == "display_data"
    assert set(saved["data"]) == {"text/html", "text/plain"}
    assert LOADING_NOTICE not in saved["data"]["text/plain"]
    provenance = saved["metadata"]["coassist"]
    assert provenance["model"] == "coassist"
    assert provenance["kind"] == "peft" and provenance["adapter"].endswith("notebook_adapter")
    assert provenance["device"] == "cpu"
    assert provenance["settings"]["max_new_tokens"] == 48
    assert provenance["settings"]["temperature"] == 0
    assert provenance["format"] == "markdown"


def test_accepted_ghost_text_keeps_the_editors_indentation(lab: Lab, browser_context: Any, shots_dir: Path) -> None:
    """After `def mean_of(values):` and Enter, JupyterLab has indented four spaces; the ghost text
    must not bring a fifth (the model writes a line's indentation with its line break, so the
    completion prompt ends at the colon: `coassist.prompt.completion`)."""
    page = open_notebook(browser_context, lab, write_notebook(lab, "ghost.ipynb", [""]))
    try:
        editor = page.locator(".jp-Notebook .jp-Cell").first.locator(".cm-content")
        editor.click()
        page.keyboard.type("def mean_of(values):", delay=20)
        page.keyboard.press("Enter")
        ghost = page.locator(".jp-Notebook .jp-Cell").first.locator(".jp-GhostText")
        wait_for_ghost_text(page, ghost)
        page.screenshot(path=shots_dir / "13-ghost-text-indentation.png")
        run_command(page, "inline-completer:accept")
        page.wait_for_function("() => !document.querySelector('.jp-GhostText')")
        source: str = page.evaluate("() => window.jupyterapp.shell.currentWidget.content.activeCell.model.sharedModel.getSource()")
    finally:
        page.close()
    body = source.split("\n")[1]
    assert body.startswith("    ") and not body.startswith("     "), repr(source)
    assert body.strip(), repr(source)


def wait_for_ghost_text(page: Any, ghost: Any, give_up_s: float = 120.0) -> None:
    """Wait for the ghost text, asking again as a user would (`inline-completer:invoke`) while
    none shows. The server loads the default model on the first request; a request whose
    deadline (`DEADLINE_SECONDS`, load included) passes while the model loads answers empty,
    and JupyterLab sends no other until the user types or asks: on a busy CI runner the load
    alone can outlast the deadline."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    give_up_at = time.monotonic() + give_up_s
    while True:
        try:
            ghost.first.wait_for(timeout=DEADLINE_SECONDS * 2 * 1000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > give_up_at:
                raise
        run_command(page, "inline-completer:invoke")
