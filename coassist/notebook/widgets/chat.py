"""A chat panel over the same conversation as `%%assist`: type, watch the answer stream, stop it.

    from coassist.notebook.widgets import ChatWidget
    ChatWidget()

It asks through the kernel's `AssistSession`, so an exchange made here is context for the next
`%%assist` cell and the other way round.

Answers are model text, so they are rendered as Markdown by `markdown_to_safe_html` and never as
raw HTML. The newest exchange stays in view without JavaScript (a widget's HTML cannot run any):
the transcript is a fixed-height box laid out `flex-direction: column-reverse`, whose scroll
origin is its bottom edge, so each redraw opens scrolled to the newest answer.
"""

from __future__ import annotations

import html
import threading
from dataclasses import replace
from typing import Any

import ipywidgets as widgets

from coassist.errors import CoassistError
from coassist.notebook.answer_view import answer_markdown, answer_notice
from coassist.notebook.safe_markdown import markdown_to_safe_html
from coassist.notebook.session import Answer, AssistSession, get_session
from coassist.notebook.streaming import Throttle
from coassist.notebook.widgets._status import status_html
from coassist.prompt import Exchange

TRANSCRIPT_HEIGHT = "400px"

# Our own constant stylesheet, never model text: compact Markdown inside the transcript only.
_CHAT_CSS = """<style>
.coassist-chat .coassist-turn { margin: 0 0 0.6em 0; line-height: 1.4; }
.coassist-chat .coassist-answer > :first-child { margin-top: 0; }
.coassist-chat .coassist-answer > b + p { display: inline; }
.coassist-chat .coassist-answer p, .coassist-chat .coassist-answer ul,
.coassist-chat .coassist-answer ol, .coassist-chat .coassist-answer pre { margin: 0.25em 0; }
.coassist-chat .coassist-answer li { margin: 0; }
.coassist-chat .coassist-answer pre { padding: 0.3em 0.5em; background: var(--jp-layout-color2, #f5f5f5); }
.coassist-chat details { font-size: 0.9em; color: var(--jp-ui-font-color2, #666); }
.coassist-chat details pre { white-space: pre-wrap; margin: 0.2em 0; }
</style>"""


class ChatWidget(widgets.VBox):
    """Transcript, question box, Send and Stop.

    Generation runs on a worker thread: the kernel must stay free to receive the Stop click,
    which sets the `threading.Event` the model checks between tokens. `wait()` blocks until the
    current answer is done (tests, scripts). `min_interval` is the shortest time, in seconds,
    between two redraws of the transcript while an answer streams.
    """

    def __init__(self, session: AssistSession | None = None, min_interval: float = 0.1) -> None:
        self.session = session or _kernel_session()
        self.min_interval = min_interval
        self.transcript = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.prompt = widgets.Textarea(
            placeholder="Ask coassist; {df} inserts a variable, as in %%assist",
            layout=widgets.Layout(width="100%"),
        )
        self.send_button = widgets.Button(description="Send", button_style="primary", icon="paper-plane")
        self.stop_button = widgets.Button(description="Stop", icon="stop", disabled=True)
        self.status = widgets.HTML()
        self.send_button.on_click(lambda _button: self.send())
        self.stop_button.on_click(lambda _button: self.stop())
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        # Hidden: a <style> element applies wherever it sits, and takes no room this way.
        style = widgets.HTML(_CHAT_CSS, layout=widgets.Layout(display="none"))
        super().__init__(
            [
                style,
                self.transcript,
                self.prompt,
                widgets.HBox([self.send_button, self.stop_button]),
                self.status,
            ]
        )
        self.add_class("coassist-chat")
        self.render()

    @property
    def busy(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def send(self) -> None:
        """Ask the question in the box; the answer streams into the transcript."""
        template = self.prompt.value.strip()
        if self.busy or not template:
            return
        try:
            question = self.session.fill_template(template)
        except CoassistError as error:
            self.status.value = status_html(str(error), "error")
            return
        self.prompt.value = ""
        self.status.value = ""
        self._stop = threading.Event()
        self.send_button.disabled, self.stop_button.disabled = True, False
        self._worker = threading.Thread(target=self._answer, args=(question, template), daemon=True)
        self._worker.start()

    def stop(self) -> None:
        """End the answer being generated, keeping what was said so far."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> None:
        if self._worker is not None:
            self._worker.join(timeout)

    def render(self, pending: Exchange | None = None, notice: str | None = None) -> None:
        """Show the shared conversation, plus `pending`: the exchange being answered now (its
        answer so far, with a cursor), or just answered and left out of the conversation (then
        `notice` says why, and no cursor is shown)."""
        turns = [_turn_html(exchange) for exchange in self.session.conversation.exchanges]
        if pending is not None:
            shown = pending if notice else replace(pending, answer=pending.answer + " ▌")
            turns.append(_turn_html(shown, notice))
        self.transcript.value = _scroll_box_html(
            "".join(turns) or "<i>No exchanges yet: ask below or in a %%assist cell.</i>"
        )

    def _answer(self, question: str, typed: str) -> None:
        pieces: list[str] = []
        # Re-sending the whole transcript per token would cost the browser more than the model.
        throttle = Throttle(self.min_interval)

        def pending(answer: str) -> Exchange:
            return Exchange(question, answer, "", typed)

        def on_text(piece: str) -> None:
            pieces.append(piece)
            if throttle.ready():
                self.render(pending("".join(pieces)))

        self.render(pending(""))
        left_out: Answer | None = None
        try:
            answer = self.session.ask(question, on_text=on_text, stop=self._stop, typed=typed)
            if answer.not_kept is not None:
                # The session leaves a stopped, cut-off or looping answer out of the conversation;
                # show it, with the notice saying so, until the next question so nothing the user
                # saw vanishes.
                left_out = answer
        except Exception as error:  # a worker thread must report its failure, not die silently
            self.status.value = status_html(f"{type(error).__name__}: {error}", "error")
        finally:
            self.send_button.disabled, self.stop_button.disabled = False, True
            if left_out is None:
                self.render()
            else:
                notice = answer_notice(left_out, "`%config Assist.max_new_tokens`")
                self.render(pending(answer_markdown(left_out)), notice)


def _kernel_session() -> AssistSession:
    from IPython import get_ipython

    shell: Any = get_ipython()
    if shell is None:
        raise RuntimeError(
            "ChatWidget() needs a running IPython kernel; outside one, pass session=AssistSession(shell)."
        )
    return get_session(shell)


def _scroll_box_html(content: str) -> str:
    """A fixed-height box that opens scrolled to its bottom: `column-reverse` puts the scroll
    origin there, so the newest exchange is in view after every redraw, with no script."""
    return (
        f'<div class="coassist-transcript" style="max-height: {TRANSCRIPT_HEIGHT}; overflow-y: auto; '
        'display: flex; flex-direction: column-reverse">'
        f"<div>{content}</div></div>"
    )


def _turn_html(exchange: Exchange, notice: str | None = None) -> str:
    """One exchange: what the person typed (the expanded prompt a click away), the answer as
    safe Markdown, and the notice (rendered apart, so it never lands in the answer's code block).
    An exchange recorded without what was typed shows its question."""
    typed, question, answer = exchange.typed or exchange.question, exchange.question, exchange.answer
    expanded = (
        ""
        if typed == question
        else "<details><summary>expanded prompt</summary>"
        f"<pre>{html.escape(question, quote=False)}</pre></details>"
    )
    return (
        '<div class="coassist-turn">'
        '<div class="coassist-question" style="white-space: pre-wrap"><b>You:</b> '
        f"{html.escape(typed, quote=False)}</div>{expanded}"
        f'<div class="coassist-answer"><b>coassist:</b> {markdown_to_safe_html(answer).strip()}'
        f"{markdown_to_safe_html(notice).strip() if notice else ''}</div>"
        "</div>"
    )
