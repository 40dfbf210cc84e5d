"""`EndpointChatModel.generate_batch` (and `continue_text_batch`) against a real threaded server
on 127.0.0.1 that answers each request after a delay, as a continuous-batching server (vLLM)
does under load.

The server echoes each conversation's last message (or the text to continue), so order is checked on content, and it
counts the requests it holds at once, so concurrency and its bound are checked where they
happen rather than inferred from timings alone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from coassist.errors import EndpointError, InvalidSetting
from coassist.llm import GenerationSettings, parse_model_spec
from coassist.llm.endpoint import EndpointChatModel

LATENCY = 0.4
SETTINGS = GenerationSettings(max_new_tokens=16)


class _LatencyServer:
    """Answers ``echo <last message>`` after `LATENCY` seconds. A last message of ``fail``
    gets HTTP 500 at once, ``slow:<s>`` waits s seconds instead, and ``drip`` streams a
    chunk every 50 ms until the client hangs up or the server closes."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.closing = threading.Event()
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                self.chat = "messages" in body  # else a plain /completions request
                last = body["messages"][-1]["content"] if self.chat else body["prompt"]
                with lock:
                    owner.in_flight += 1
                    owner.most_in_flight = max(owner.most_in_flight, owner.in_flight)
                self.counted = True
                try:
                    self._answer(last)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client abandoned the request, as it should
                finally:
                    self._finished()

            def _finished(self) -> None:
                """Count the request out, once. Called before the last byte of an answer is
                sent: the client may send its next request the moment it reads that byte, and
                counting out after it (when this thread gets the CPU back) would count both
                requests at once on a busy machine."""
                if self.counted:
                    self.counted = False
                    with lock:
                        owner.in_flight -= 1

            def _answer(self, last: str) -> None:
                if last == "fail":
                    self.send_response(500)
                    self.send_header("Content-Length", "14")
                    self.end_headers()
                    self._finished()
                    self.wfile.write(b"model crashed!")
                    return
                delay = float(last.removeprefix("slow:")) if last.startswith("slow:") else LATENCY
                if owner.closing.wait(delay):
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                if last == "drip":
                    while not owner.closing.wait(0.05):
                        self._chunk(".")
                    return
                for piece in ("echo ", last):
                    self._chunk(piece)
                self._finished()
                self.wfile.write(b"data: [DONE]\n\n")

            def _chunk(self, piece: str) -> None:
                choice = {"delta": {"content": piece}} if self.chat else {"text": piece}
                chunk = {"choices": [{"index": 0, **choice}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.spec = parse_model_spec(f"openai:http://127.0.0.1:{self.httpd.server_address[1]}/v1#m")
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[_LatencyServer]:
    one = _LatencyServer()
    yield one
    one.close()


def _conversations(*lasts: str) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": last}] for last in lasts]


def _workers_alive() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("coassist-endpoint")]


def test_a_batch_of_eight_takes_about_one_request_and_keeps_the_order(server: _LatencyServer) -> None:
    model = EndpointChatModel(server.spec)
    started = time.perf_counter()
    assert model.generate(_conversations("alone")[0], SETTINGS).text == "echo alone"
    one_request = time.perf_counter() - started
    # Later questions answer sooner, so finishing order is the reverse of input order.
    lasts = [f"slow:{LATENCY + 0.03 * (7 - i):.2f}" for i in range(8)]
    started = time.perf_counter()
    answers = model.generate_batch(_conversations(*lasts), SETTINGS)
    batch = time.perf_counter() - started
    assert [answer.text for answer in answers] == [f"echo {last}" for last in lasts]
    # Each answer keeps its own request's timings: the later ones were answered sooner.
    assert all(a.finish == "stop" and a.new_tokens == 2 for a in answers)
    assert answers[0].seconds > answers[-1].seconds + 0.1
    assert server.most_in_flight == 8
    assert batch < 2 * one_request, f"batch of 8 took {batch:.2f} s, one request {one_request:.2f} s"
    assert not _workers_alive()


def test_no_more_than_max_concurrent_requests_are_in_flight(server: _LatencyServer) -> None:
    lasts = [f"slow:0.{i}" for i in range(1, 8)]
    answers = EndpointChatModel(server.spec, max_concurrent_requests=3).generate_batch(_conversations(*lasts), SETTINGS)
    assert [answer.text for answer in answers] == [f"echo {last}" for last in lasts]
    assert server.most_in_flight == 3


def test_plain_continuations_are_batched_the_same_way(server: _LatencyServer) -> None:
    texts = [f"slow:{LATENCY + 0.03 * (3 - i):.2f}" for i in range(4)]
    started = time.perf_counter()
    answers = EndpointChatModel(server.spec).continue_text_batch(texts, SETTINGS)
    assert time.perf_counter() - started < 2 * LATENCY
    assert [answer.text for answer in answers] == [f"echo {text}" for text in texts]
    assert server.most_in_flight == 4


def test_an_empty_batch_sends_nothing(server: _LatencyServer) -> None:
    assert EndpointChatModel(server.spec).generate_batch([], SETTINGS) == []
    assert EndpointChatModel(server.spec).continue_text_batch([], SETTINGS) == []
    assert server.most_in_flight == 0


def test_a_failed_request_is_raised_after_the_others_finish(server: _LatencyServer) -> None:
    model = EndpointChatModel(server.spec)
    with pytest.raises(EndpointError, match="HTTP 500: model crashed!"):
        model.generate_batch(_conversations("a", "b", "fail", "c"), SETTINGS)
    assert not _workers_alive()
    # Every other request was answered or abandoned, none left open. The server notices an
    # abandoned stream at its next write, one chunk's latency later.
    deadline = time.monotonic() + 3
    while server.in_flight and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.in_flight == 0


@pytest.mark.parametrize("stalled", ["drip", "slow:30"], ids=["streams-forever", "sends-nothing"])
def test_a_failure_abandons_a_request_that_would_never_end(server: _LatencyServer, stalled: str) -> None:
    model = EndpointChatModel(server.spec, timeout=1.0)
    started = time.perf_counter()
    with pytest.raises(EndpointError, match="HTTP 500"):
        model.generate_batch(_conversations(stalled, "fail"), SETTINGS)
    # A streaming request stops at its next chunk; a silent one at the read timeout.
    assert time.perf_counter() - started < 1.0 + LATENCY + 1.0
    assert not _workers_alive()


@pytest.mark.parametrize("bound", [0, -1, 2.5, True, "8"])
def test_a_bad_bound_names_the_setting(bound: object) -> None:
    with pytest.raises(InvalidSetting, match="max_concurrent_requests: must be a whole number >= 1"):
        EndpointChatModel(parse_model_spec("openai:http://127.0.0.1:9/v1#m"), max_concurrent_requests=bound)  # type: ignore[arg-type]
