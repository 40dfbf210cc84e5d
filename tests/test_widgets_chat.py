"""The chat widget, driven as a browser would (button clicks) but without one."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from coassist.config import Assist
from coassist.notebook.session import AssistSession
from coassist.notebook.widgets import ChatWidget
from tests.scripted_model import ScriptedModel

ANSWER = "use df.describe()"


def make_session(fake: Any = None, **config: Any) -> AssistSession:
    """A session over a namespace holding `rows`; `fake` replaces the configured model."""
    session = AssistSession(SimpleNamespace(user_ns={"rows": 42}), config=Assist(**config))
    if fake is not None:
        session.model = lambda spec=None: fake  # type: ignore[method-assign]
    return session


def ask(chat: ChatWidget, question: str) -> list[str]:
    """Send `question` as a click would and wait for the answer: every transcript drawn meanwhile."""
    shown: list[str] = []
    chat.transcript.observe(lambda change: shown.append(change["new"]), names="value")
    chat.prompt.value = question
    chat.send_button.click()
    chat.wait(5)
    return shown


def test_send_streams_the_answer_into_the_transcript() -> None:
    session = make_session(ScriptedModel(ANSWER))
    chat = ChatWidget(session, min_interval=0)
    shown = ask(chat, "How do I summarise {rows} rows?")
    # Interpolated like %%assist; streamed piece by piece with a cursor, then final.
    assert "How do I summarise 42 rows?" in chat.transcript.value
    assert any("use df.describe() ▌" in value for value in shown)
    assert any("use ▌" in value for value in shown)
    assert "use df.describe()</p></div>" in chat.transcript.value
    assert (chat.send_button.disabled, chat.stop_button.disabled, chat.prompt.value) == (False, True, "")


def test_chat_and_assist_cells_share_one_conversation() -> None:
    model = ScriptedModel(ANSWER)
    session = make_session(model)
    session.conversation.record("What is a DataFrame?", "A table.", "streaming")  # as %%assist would
    chat = ChatWidget(session, min_interval=0)
    assert "What is a DataFrame?" in chat.transcript.value
    chat.prompt.value = "And a Series?"
    chat.send_button.click()
    chat.wait(5)
    assert [m["content"] for m in model.calls[0][1:]] == ["What is a DataFrame?", "A table.", "And a Series?"]
    assert [e.question for e in session.conversation.exchanges] == ["What is a DataFrame?", "And a Series?"]


def test_stop_ends_generation_and_keeps_the_partial_answer() -> None:
    model = ScriptedModel("one two three", hold=True)
    chat = ChatWidget(make_session(model), min_interval=0)
    chat.prompt.value = "count"
    chat.send_button.click()
    assert model.first_piece_sent.wait(5)
    assert chat.busy and chat.send_button.disabled and not chat.stop_button.disabled
    chat.send_button.click()  # a second question while one is answered is ignored
    chat.stop_button.click()
    chat.wait(5)
    assert not chat.busy
    assert chat.status.value == ""
    assert (
        "<b>coassist:</b> <p>one</p><p><em>(interrupted; not kept in the conversation)</em></p></div>"
        in chat.transcript.value
    )
    assert chat.session.conversation.exchanges == []  # a stopped answer is not built upon
    assert len(model.calls) == 1


def test_template_errors_are_shown_and_nothing_is_asked() -> None:
    model = ScriptedModel(ANSWER)
    chat = ChatWidget(make_session(model))
    chat.prompt.value = "describe {missing}"
    chat.send_button.click()
    assert "no variable 'missing'" in chat.status.value
    assert model.calls == [] and chat.prompt.value == "describe {missing}"


def test_model_errors_are_shown_and_the_widget_recovers() -> None:
    session = make_session()
    session.model = lambda spec=None: (_ for _ in ()).throw(OSError("weights missing"))  # type: ignore[method-assign]
    chat = ChatWidget(session)
    chat.prompt.value = "hi"
    chat.send_button.click()
    chat.wait(5)
    assert "OSError: weights missing" in chat.status.value
    assert not chat.send_button.disabled


def test_a_real_tiny_model_answers_through_the_widget(tiny_model_dir: Path) -> None:
    session = make_session(model=str(tiny_model_dir), max_new_tokens=6, device="cpu")
    chat = ChatWidget(session)
    chat.prompt.value = "Write a function"
    chat.send_button.click()
    chat.wait(60)
    # Random weights never end an answer within 6 tokens: it is shown, cut off, and not kept.
    assert session.conversation.exchanges == []
    assert (
        "<em>(cut off at 6 tokens — <code>%config Assist.max_new_tokens</code> to raise; "
        "not kept in the conversation)</em>" in chat.transcript.value
    )
    assert chat.status.value == ""
    chat.prompt.value = "And now?"
    chat.send_button.click()
    chat.wait(60)
    assert "Write a function" not in chat.transcript.value  # shown until the next question only


def test_outside_a_kernel_the_error_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("IPython.get_ipython", lambda: None)
    with pytest.raises(RuntimeError, match="session=AssistSession"):
        ChatWidget()


def test_the_transcript_is_redrawn_through_the_shared_throttle() -> None:
    chat = ChatWidget(make_session(ScriptedModel("one two three")), min_interval=3600)
    partials = [value for value in ask(chat, "count") if "▌" in value]
    # The question with a bare cursor, then the first piece; later pieces wait for the final render.
    assert len(partials) == 2 and partials[1].endswith(
        "<b>coassist:</b> <p>one ▌</p></div></div></div></div>"
    )
    assert "<b>coassist:</b> <p>one two three</p></div>" in chat.transcript.value


def test_answers_render_as_safe_markdown() -> None:
    chat = ChatWidget(
        make_session(ScriptedModel("Use **describe** and `df.info()`.\n\n- one\n- two")), min_interval=0
    )
    ask(chat, "how?")
    assert "<strong>describe</strong>" in chat.transcript.value
    assert "<code>df.info()</code>" in chat.transcript.value and "<li>one</li>" in chat.transcript.value
    # Laid out by its Markdown blocks, not by raw newlines kept as blank lines (pre-wrap).
    assert '<div class="coassist-answer"><b>coassist:</b> <p>Use' in chat.transcript.value


def test_you_shows_what_was_typed_with_the_expanded_prompt_one_click_away() -> None:
    chat = ChatWidget(make_session(ScriptedModel(ANSWER)), min_interval=0)
    ask(chat, "How do I summarise {rows} rows?")
    value = chat.transcript.value
    assert "<b>You:</b> How do I summarise {rows} rows?</div>" in value
    assert (
        "<details><summary>expanded prompt</summary><pre>How do I summarise 42 rows?</pre></details>" in value
    )
    ask(chat, "plain question")  # nothing expanded: no details to open
    assert value.count("<details>") == chat.transcript.value.count("<details>") == 1


def test_the_transcript_opens_scrolled_to_the_newest_exchange() -> None:
    chat = ChatWidget(make_session(ScriptedModel(ANSWER)), min_interval=0)
    ask(chat, "first")
    ask(chat, "second")
    value = chat.transcript.value
    # A fixed-height box whose scroll origin is its bottom; exchanges stay in reading order.
    assert value.startswith('<div class="coassist-transcript" style="max-height: 400px; overflow-y: auto;')
    assert "flex-direction: column-reverse" in value
    assert value.index("<b>You:</b> first") < value.index("<b>You:</b> second")


def test_a_cut_off_answer_shows_its_closed_code_and_the_notice_until_the_next_question() -> None:
    answer = "Try:\n```python\nprint('<script>alert(1)</script>')\nx = 1\nmore words here"
    session = make_session(ScriptedModel(answer, cut_off=True), max_new_tokens=4)
    chat = ChatWidget(session, min_interval=0)
    ask(chat, "how?")
    value = chat.transcript.value
    assert "&lt;script&gt;" in value and "<script>" not in value  # model text stays escaped
    assert value.count("<pre>") == 1 and value.index("</pre>") < value.index("<em>(cut off at 4 tokens")
    assert "not kept in the conversation)</em>" in value and session.conversation.exchanges == []
