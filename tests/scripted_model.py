"""A ChatModel double that answers with a fixed text, for testing the notebook layer's mechanics.

The tiny random model answers noise; tests about what the magic does with an answer (extract
code, store it, stream it, survive an interrupt) need an answer with known content.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from coassist.llm.chat import (
    BATCH_WIDTH,
    AnswerCallback,
    FinishReason,
    Generation,
    GenerationSettings,
    Message,
    TextCallback,
)


class ScriptedModel:
    spec = "scripted"
    context_length = 4096

    def __init__(
        self, answer: str, interrupt_after: int | None = None, hold: bool = False, cut_off: bool = False
    ) -> None:
        """`interrupt_after=N` raises KeyboardInterrupt before word N, as a kernel interrupt
        would; `hold` waits after the first word until the `stop` event is set (a Stop button);
        `cut_off` counts each word as a token and stops at `max_new_tokens` with finish
        "length", as a real model reaching its limit does."""
        self.answer = answer
        self.interrupt_after = interrupt_after
        self.hold = hold
        self.cut_off = cut_off
        self.first_piece_sent = threading.Event()
        self.calls: list[list[Message]] = []

    def render_prompt(self, messages: list[Message]) -> str:
        return "\n".join(f"{m['role']}: {m['content']}" for m in messages)

    def count_tokens(self, messages: list[Message]) -> int:
        return len(self.render_prompt(messages).split())

    def generate(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        self.calls.append(messages)
        sent: list[str] = []
        finish: FinishReason = "stop"
        for index, word in enumerate(self.answer.split(" ")):
            if self.cut_off and index == settings.max_new_tokens:
                finish = "length"
                break
            if self.interrupt_after is not None and index == self.interrupt_after:
                raise KeyboardInterrupt
            sent.append(word if index == 0 else " " + word)
            if on_text is not None:
                on_text(sent[-1])
            if self.hold:
                self.first_piece_sent.set()
                assert stop is not None and stop.wait(5), "Stop never reached the model"
                break
        if stop is not None and stop.is_set():
            finish = "interrupted"
        return Generation("".join(sent), finish, len(sent), 0.0, 0.0)

    def continue_text(self, text: str, settings: GenerationSettings, stop: threading.Event | None = None) -> Generation:
        return self.generate([{"role": "user", "content": text}], settings, stop=stop)

    def generate_batch(
        self,
        conversations: list[list[Message]],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        return self._each([lambda c=c: self.generate(c, settings) for c in conversations], on_answer)

    def continue_text_batch(
        self, texts: list[str], settings: GenerationSettings, width: int = BATCH_WIDTH, on_answer: AnswerCallback | None = None
    ) -> list[Generation]:
        return self._each([lambda t=t: self.continue_text(t, settings) for t in texts], on_answer)

    @staticmethod
    def _each(answers: list[Callable[[], Generation]], on_answer: AnswerCallback | None) -> list[Generation]:
        generations = []
        for index, answer in enumerate(answers):
            generations.append(answer())
            if on_answer is not None:
                on_answer(index, generations[-1])
        return generations

    def describe(self) -> dict[str, Any]:
        return {"model": self.spec, "kind": "scripted", "adapter": None}


class ScriptedEndpoint:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 whose answers can be held back, for tests
    that run `coassist agent` processes (``--model`` takes its `spec`) and need to know where each
    one is: a held request means its agent has claimed the subtask and is generating it.

    Each request is answered ``<name>#<n>: draft of <title>`` (n counts this endpoint's requests
    from 0), so a stored draft's text says which agent generated it and in which round.
    Answers wait until `release()`; ``hold=False`` answers at once.
    """

    def __init__(self, name: str, hold: bool = True) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.name = name
        self.titles: list[str] = []
        """The subtask title of every request received, in arrival order."""
        self._released = threading.Event()
        if not hold:
            self._released.set()
        self._arrived = threading.Condition()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                import json

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                title = next(
                    (line.removeprefix("Subtask: ") for line in prompt.splitlines() if line.startswith("Subtask: ")),
                    "?",
                )
                with owner._arrived:
                    index = len(owner.titles)
                    owner.titles.append(title)
                    owner._arrived.notify_all()
                owner._released.wait(120)
                chunk = {"choices": [{"index": 0, "delta": {"content": f"{owner.name}#{index}: draft of {title}"}}]}
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the agent went away (killed at the end of a test)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.spec = f"openai:http://127.0.0.1:{self._server.server_address[1]}/v1#scripted"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for_requests(self, count: int, timeout: float = 60.0) -> list[str]:
        """The titles of the first `count` requests, once that many have arrived."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.titles) >= count, timeout):
                raise AssertionError(f"endpoint {self.name} got {self.titles} within {timeout} s, not {count} requests")
            return self.titles[:count]

    def release(self) -> None:
        """Answer the held requests, and every later one at once."""
        self._released.set()

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
