"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1 speaking SSE."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coassist.errors import EndpointError
from coassist.llm import GenerationSettings, load_chat_model

PIECES = ["Use ", "`df.isna()", ".sum()`", "."]
LOOP = ["Columns with missing values:\n"] + ["- units_revenue\n"] * 200


class _FakeVLLM(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        if body["model"] == "broken":
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b'{"error": "model crashed"}')
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = LOOP if body["model"] == "looping" else PIECES
        for piece in pieces:
            # /completions chunks carry `text`; chat chunks carry a `delta`.
            choice = {"text": piece} if self.path.endswith("/v1/completions") else {"delta": {"content": piece}}
            chunk = {"choices": [{"index": 0, **choice}]}
            try:
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            except OSError:  # the client stopped reading (a loop it cut short)
                return
        self.wfile.write(b"data: [DONE]\n\n")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def endpoint() -> Iterator[str]:
    _FakeVLLM.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeVLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_streams_pieces_and_sends_the_chat(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    model = load_chat_model(f"openai:{endpoint}#qwen2.5")
    received: list[str] = []
    messages = [{"role": "user", "content": "How do I count nulls?"}]
    answer = model.generate(messages, GenerationSettings(max_new_tokens=32), on_text=received.append).text
    assert received == PIECES and answer == "".join(PIECES)
    request = _FakeVLLM.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["model"] == "qwen2.5" and request["body"]["stream"] is True
    assert request["body"]["messages"] == messages and request["body"]["max_tokens"] == 32
    assert request["auth"] == "Bearer sk-test"
    assert model.describe()["endpoint"] == endpoint


def test_server_error_is_reported_with_its_body(endpoint: str) -> None:
    model = load_chat_model(f"openai:{endpoint}#broken")
    with pytest.raises(EndpointError, match="HTTP 500.*model crashed"):
        model.generate([{"role": "user", "content": "hi"}], GenerationSettings())


def test_unreachable_endpoint_names_the_url() -> None:
    model = load_chat_model("openai:http://127.0.0.1:9/v1#m")
    with pytest.raises(EndpointError, match="cannot reach the model endpoint http://127.0.0.1:9/v1"):
        model.generate([{"role": "user", "content": "hi"}], GenerationSettings())


def test_repetition_penalty_is_sent_only_when_set(endpoint: str) -> None:
    model = load_chat_model(f"openai:{endpoint}#qwen2.5")
    messages = [{"role": "user", "content": "hi"}]
    model.generate(messages, GenerationSettings())
    model.generate(messages, GenerationSettings(repetition_penalty=1.15))
    bodies = [request["body"] for request in _FakeVLLM.requests]
    assert "repetition_penalty" not in bodies[0] and bodies[1]["repetition_penalty"] == 1.15


def test_continue_text_uses_the_plain_completions_route(endpoint: str) -> None:
    model = load_chat_model(f"openai:{endpoint}#qwen2.5")
    generation = model.continue_text("import pandas as", GenerationSettings(max_new_tokens=16))
    assert generation.text == "".join(PIECES) and generation.finish == "stop"
    request = _FakeVLLM.requests[-1]
    assert request["path"] == "/v1/completions" and request["body"]["prompt"] == "import pandas as"
    assert "messages" not in request["body"]


def test_a_looping_answer_is_stopped_and_its_repeats_dropped(endpoint: str) -> None:
    model = load_chat_model(f"openai:{endpoint}#looping")
    generation = model.generate([{"role": "user", "content": "Which columns have nulls?"}], GenerationSettings())
    assert generation.finish == "repetition"
    assert generation.text == "Columns with missing values:\n- units_revenue"
    assert generation.new_tokens < 20  # stopped within a few pieces of the loop, not at 200
