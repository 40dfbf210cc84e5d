"""The main paths in a real JupyterLab + Chromium: a streamed %%assist answer, approving a draft
from the sidebar (the queue and the decision's outcome in view), the commands found by searching
"coassist", and ghost text from the inline completer. Screenshots go to $SHOTS_DIR."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coassist.review import open_store, review_queue
from tests.browser.conftest import (
    KERNEL_IDLE,
    Lab,
    open_notebook,
    run_command,
    scripted_session_source,
    write_notebook,
)

pytestmark = pytest.mark.browser

# Is the element inside the sidebar's visible box (the sidebar scrolls)?
IN_SIDEBAR_VIEW = """(node) => {
  const shown = node.getBoundingClientRect(), view = document.querySelector('#coassist-sidebar').getBoundingClientRect();
  return shown.height > 0 && shown.top >= view.top - 1 && shown.bottom <= view.bottom + 1;
}"""

# Record every text the %%assist cell's output shows, to see it change while the answer streams.
RECORD_OUTPUTS = """() => {
  window.__outputs = [];
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  new MutationObserver(() => {
    const cell = notebook.querySelectorAll('.jp-Cell')[1];
    const text = cell ? cell.querySelector('.jp-OutputArea')?.innerText ?? '' : '';
    if (text && window.__outputs[window.__outputs.length - 1] !== text) window.__outputs.push(text);
  }).observe(notebook, {subtree: true, childList: true, characterData: true});
}"""


@pytest.fixture(scope="module")
def page(lab: Lab, browser_context: Any) -> Iterator[Any]:
    setup = f'%load_ext coassist\n%config Assist.model = "{lab.model_dir}"\n%config Assist.max_new_tokens = 64'
    notebook = write_notebook(lab, "assist.ipynb", [setup, "%%assist\nWrite a function that adds two numbers."])
    page = open_notebook(browser_context, lab, notebook)
    yield page
    page.close()


def test_assist_cell_streams_its_answer(page: Any, shots_dir: Path) -> None:
    page.evaluate(RECORD_OUTPUTS)
    run_command(page, "notebook:run-all-cells")
    answer = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea .jp-RenderedHTML")
    answer.wait_for(timeout=60_000)  # rendered from its first word
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    outputs: list[str] = page.evaluate("() => window.__outputs")
    final = answer.inner_text().strip()
    assert final, "the %%assist cell showed an empty answer"
    # The output started as a placeholder or a partial answer with a cursor, then was replaced
    # in place by the final rendering (sanitised HTML): one display, updated while streaming.
    assert any(text.strip() == "…" or "▌" in text for text in outputs[:-1]), outputs
    page.screenshot(path=shots_dir / "01-assist-streamed.png")
    # One answer display (transformers' first-load progress bar may sit beside it on stderr).
    assert page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-RenderedHTML").count() == 1


def test_sidebar_approves_a_draft(page: Any, lab: Lab, shots_dir: Path) -> None:
    page.set_viewport_size({"width": 1400, "height": 640})  # a laptop's browser: the sidebar scrolls
    run_command(page, "coassist:open-review-queue")
    sidebar = page.locator("#coassist-sidebar")
    cards = sidebar.locator(".jp-coassist-card")
    cards.first.wait_for()
    assert cards.count() == 2
    # The command brings the queue into view: the plan and the team come before it.
    queue_heading = sidebar.locator("h3", has_text="Review queue")
    page.wait_for_function(IN_SIDEBAR_VIEW, arg=queue_heading.element_handle(), timeout=5_000)
    assert "sales / week 1" in sidebar.locator(".jp-coassist-plan-summary").inner_text()
    card = cards.filter(has_text="a: Load sales")
    assert card.locator(".jp-coassist-draft").input_value() == "draft of Load sales"
    card.locator(".jp-coassist-approve").click()
    status = sidebar.locator(".jp-coassist-status")
    status.filter(has_text="approved by ana").wait_for()
    # The outcome shows where the deciding happened, not above it out of sight.
    assert status.evaluate(IN_SIDEBAR_VIEW), status.bounding_box()
    page.wait_for_function(
        "() => document.querySelectorAll('#coassist-sidebar .jp-coassist-card').length === 1"
    )
    page.screenshot(path=shots_dir / "02-sidebar-approved.png")
    page.set_viewport_size({"width": 1400, "height": 900})
    with open_store(lab.db_url) as store:
        assert [item.subtask for item in review_queue(store)] == ["e"]
        with store.engine.connect() as connection:
            decided = connection.exec_driver_sql(
                "SELECT d.status, d.decided_by FROM drafts d JOIN subtasks s ON s.id = d.subtask_id WHERE s.key = 'a'"
            ).one()
    assert tuple(decided) == ("approved", "ana")


def test_palette_finds_the_commands_by_coassist(page: Any, shots_dir: Path) -> None:
    run_command(page, "apputils:activate-command-palette")
    search = page.locator(".jp-ModalCommandPalette input")
    search.fill("coassist")
    palette = page.locator(".jp-ModalCommandPalette")
    palette.locator(".lm-CommandPalette-item").first.wait_for()
    # The best matches come first, under their category's heading: all three commands.
    assert palette.locator(".lm-CommandPalette-header").first.inner_text() == "coassist"
    labels = palette.locator(".lm-CommandPalette-itemLabel").all_inner_texts()[:3]
    assert sorted(labels) == ["Assist: ask about this cell", "Assist: explain the error", "Assist: open review queue"]
    page.screenshot(path=shots_dir / "03-palette.png")
    page.keyboard.press("Escape")


def test_inline_completion_shows_ghost_text(page: Any, shots_dir: Path) -> None:
    requests: list[str] = []
    page.on(
        "request",
        lambda r: requests.append(r.url) if r.url.split("?")[0].endswith("/coassist/complete") else None,
    )
    page.locator(".jp-Notebook .jp-Cell").last.click()
    run_command(page, "notebook:insert-cell-below")
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.content.activeCellIndex === 2"
        " && window.jupyterapp.shell.currentWidget.content.widgets.length === 3"
    )
    run_command(page, "notebook:enter-edit-mode")
    page.locator(".jp-Notebook .jp-Cell").nth(2).locator(".cm-content").click()
    page.keyboard.type("def add(a, b", delay=50)  # 12 keystrokes
    ghost = page.locator(".jp-GhostText")
    ghost.first.wait_for(timeout=30_000)
    assert ghost.first.inner_text().strip()
    page.screenshot(path=shots_dir / "04-inline-ghost-text.png")
    # Debounced and cancelled: one request per pause in typing, not one per keystroke.
    assert 1 <= len(requests) <= 3, requests


# Each payload, if the browser ran it, would record its name in window.__pwned.
HOSTILE_ANSWER = "\n\n".join(
    [
        "Here is the answer.",
        "<img src=x onerror=\"window.__pwned = 'img'\">",
        "<script>window.__pwned = 'script'</script>",
        "<iframe srcdoc=\"<script>parent.__pwned = 'iframe'</script>\"></iframe>",
        "[click me](javascript:window.__pwned='link')",
        "<svg onload=\"window.__pwned = 'svg'\"><circle r='5'/></svg>",
        "**still Markdown** and `code`",
    ]
)


def write_hostile_notebook(lab: Lab) -> str:
    """A kernel whose assistant answers HOSTILE_ANSWER (a scripted model installed in its session)."""
    return write_notebook(
        lab, "hostile.ipynb", [scripted_session_source(HOSTILE_ANSWER), "%%assist\nAnswer with anything."]
    )


def test_hostile_model_output_runs_nothing_and_reads_as_text(
    lab: Lab, browser_context: Any, shots_dir: Path
) -> None:
    page = browser_context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        page.goto(lab.page_url(f"lab/tree/{write_hostile_notebook(lab)}"))
        page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        run_command(page, "notebook:run-all-cells")
        output = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea")
        output.locator(".jp-RenderedHTML").wait_for(timeout=60_000)
        page.wait_for_function(KERNEL_IDLE)
        page.wait_for_timeout(1_000)  # time for an onerror or onload to fire, were it there
        shown = output.inner_text()
        for payload in ("<img src=x onerror=", "<script>window.__pwned", "<iframe srcdoc=", "<svg onload="):
            assert payload in shown, shown
        assert "[click me](javascript:" in shown
        assert output.locator("strong").inner_text() == "still Markdown"
        rendered = output.locator(".jp-RenderedHTML")
        assert rendered.locator("img, script, iframe, svg, a[href^='javascript']").count() == 0
        page.get_by_text("click me").first.click()
        page.screenshot(path=shots_dir / "05-hostile-output-inert.png")
        assert page.evaluate("() => window.__pwned === undefined"), page.evaluate("() => window.__pwned")
        assert dialogs == []
    finally:
        page.close()
