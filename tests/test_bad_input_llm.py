"""Bad input to the model layer: what an endpoint sends back, credentials in a spec, generation
settings, devices, and prompt placeholders. Each must be a `CoassistError` that names the fix.

Endpoints are real HTTP servers on 127.0.0.1 (port 0), not mocks of urllib.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import torch

from coassist.errors import (
    CoassistError,
    DeviceUnavailable,
    EndpointError,
    InvalidSetting,
    PromptTemplateError,
    UnknownModelSpec,
)
from coassist.llm import GenerationSettings, load_chat_model, parse_model_spec
from coassist.llm.device import resolve_device, resolve_dtype
from coassist.llm.endpoint import MAX_LINE_BYTES, MAX_STREAM_BYTES, EndpointChatModel
from coassist.llm.spec import redact_url
from coassist.prompt.interpolate import interpolate

HI = [{"role": "user", "content": "hi"}]
PASSWORD = "s3cret-pw"

# --- a scriptable OpenAI-compatible server ------------------------------------------------

Reply = Callable[[BaseHTTPRequestHandler], None]


def _sse(*data: str, content_type: str = "text/event-stream") -> Reply:
    """A 200 answer whose body is these `data:` payloads."""

    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        for payload in data:
            handler.wfile.write(f"data: {payload}\n\n".encode())

    return reply


def _status(code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(code)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return reply


def _raw(body: bytes, content_type: str = "text/event-stream") -> Reply:
    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        handler.wfile.write(body)

    return reply


class _Server:
    """One local server: `reply` answers every POST; `requests` records what arrived."""

    def __init__(self) -> None:
        self.reply: Reply = _sse(json.dumps({"choices": [{"delta": {"content": "ok"}}]}), "[DONE]")
        self.requests: list[dict] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                try:
                    owner.reply(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up reading, as it should

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server() -> Iterator[_Server]:
    one = _Server()
    yield one
    one.close()


@pytest.fixture()
def other_server() -> Iterator[_Server]:
    one = _Server()
    one.reply = _sse(json.dumps({"choices": [{"delta": {"content": "attacker text"}}]}), "[DONE]")
    yield one
    one.close()


def _ask(url: str, model: str = "m", timeout: float = 10.0) -> str:
    return EndpointChatModel(parse_model_spec(f"openai:{url}#{model}"), timeout=timeout).generate(
        HI, GenerationSettings(max_new_tokens=8)
    ).text


# --- redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308], ids=lambda c: f"HTTP{c}")
def test_redirect_is_refused_and_the_key_never_leaves(
    code: int, server: _Server, other_server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-key")
    server.reply = _status(code, headers={"Location": f"{other_server.url}/chat/completions"})
    with pytest.raises(EndpointError) as caught:
        _ask(server.url, "qwen")
    message = str(caught.value)
    assert f"redirected (HTTP {code}) to {other_server.url}/chat/completions" in message
    assert f"Put the final URL in the spec: openai:{other_server.url}#qwen" in message
    assert "\n" not in message and "sk-secret-key" not in message
    assert server.requests[0]["auth"] == "Bearer sk-secret-key"
    assert other_server.requests == []  # neither the key nor the question reached it


def test_redirect_location_with_credentials_is_shown_redacted(server: _Server) -> None:
    server.reply = _status(302, headers={"Location": f"http://admin:{PASSWORD}@10.9.9.9/v1/chat/completions"})
    with pytest.raises(EndpointError, match=r"redirected \(HTTP 302\) to http://\*\*\*@10\.9\.9\.9/v1") as caught:
        _ask(server.url)
    assert PASSWORD not in str(caught.value)


# --- malformed streams ----------------------------------------------------------------------

LONG_GARBAGE = "x" * 5000


@pytest.mark.parametrize(
    ("payload", "words"),
    [
        ("{not json", "sent a chunk that is not JSON: {not json"),
        (LONG_GARBAGE, "not JSON: " + "x" * 200 + "… (5000 characters)"),
        ("[" * 100_000, "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"just a string"', "not a JSON object"),
        ('{"id": "c1"}', "without 'choices'"),
        ('{"choices": {"0": {"delta": {}}}}', "'choices' is not a list"),
        ('{"choices": "abc"}', "'choices' is not a list"),
        ('{"choices": [{"index": 0}]}', "without a 'delta' object"),
        ('{"choices": [{"delta": "text"}]}', "without a 'delta' object"),
        ('{"choices": ["text"]}', "without a 'delta' object"),
        ('{"choices": [{"delta": {"content": 5}}]}', "'content' that is not a string"),
        ('{"choices": [{"delta": {"content": ["a"]}}]}', "'content' that is not a string"),
        ('{"error": {"message": "CUDA out of memory", "code": 500}}', "reported an error in the stream: CUDA out of memory"),
        ('{"error": "model unloaded"}', "reported an error in the stream: model unloaded"),
        ('{"error": {"code": 7}}', 'reported an error in the stream: {"code": 7}'),
    ],
    ids=[
        "not-json",
        "long-not-json-truncated",
        "deeply-nested",
        "array",
        "string",
        "no-choices",
        "choices-dict",
        "choices-string",
        "no-delta",
        "delta-string",
        "choice-string",
        "content-number",
        "content-list",
        "error-object",
        "error-string",
        "error-without-message",
    ],
)
def test_malformed_chunk_is_an_endpoint_error(payload: str, words: str, server: _Server) -> None:
    good = json.dumps({"choices": [{"delta": {"content": "fine "}}]})
    server.reply = _sse(good, payload, "[DONE]")
    with pytest.raises(EndpointError) as caught:
        _ask(server.url)
    message = str(caught.value)
    assert words in message and message.startswith(server.url)
    assert "\n" not in message and len(message) < 500


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (_status(500, b'{"error": "model crashed"}'), 'answered HTTP 500: {"error": "model crashed"}'),
        (_status(401, b"no key"), "answered HTTP 401: no key. Check OPENAI_API_KEY"),
        (_status(404, b"<html>not found</html>"), "answered HTTP 404: <html>not found</html>. Check that the spec's URL is the API root"),
        (_status(502, b"bad\ngateway\n" * 2000), "answered HTTP 502: bad gateway bad gateway"),
        (_status(204), "answered HTTP 204 instead of 200"),
        (_status(200, b'{"choices": []}', {"Content-Type": "application/json"}), "answered with application/json, not a stream"),
        (_raw(b"<html>login</html>", "text/html"), "answered with text/html, not a stream of server-sent events: <html>login</html>"),
        (_raw(b""), "ended its answer without any server-sent events (data: lines): (empty)"),
        (_raw(b"event: ping\n\nhello there\n"), "without any server-sent events (data: lines): event: ping hello there"),
        (_raw(b"data: " + b"a" * (MAX_LINE_BYTES + 10) + b"\n"), "sent a line longer than 1 MiB"),
    ],
    ids=[
        "http-500",
        "http-401",
        "http-404",
        "http-502-huge-body",
        "http-204",
        "json-not-sse",
        "html-not-sse",
        "empty-body",
        "no-data-lines",
        "megabyte-line",
    ],
)
def test_bad_status_or_body_is_an_endpoint_error(reply: Reply, words: str, server: _Server) -> None:
    server.reply = reply
    with pytest.raises(EndpointError) as caught:
        _ask(server.url)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message and len(message) < 700


def test_an_endless_answer_is_cut_off_at_the_cap(server: _Server) -> None:
    # SSE comment lines (": ...") carry no data but still count towards the cap.
    line = b": " + b"p" * (512 * 1024) + b"\n"

    def flood(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for _ in range(MAX_STREAM_BYTES // len(line) + 2):
            handler.wfile.write(line)

    server.reply = flood
    with pytest.raises(EndpointError, match="sent more than 16 MiB for one answer; lower --max-new-tokens"):
        _ask(server.url)


def test_a_server_that_stalls_mid_stream_is_reported(server: _Server) -> None:
    release = threading.Event()

    def stall(handler: BaseHTTPRequestHandler) -> None:
        _sse(json.dumps({"choices": [{"delta": {"content": "start"}}]}))(handler)
        handler.wfile.flush()
        release.wait(5)

    server.reply = stall
    try:
        with pytest.raises(EndpointError, match="stopped answering in the middle of the stream"):
            _ask(server.url, timeout=0.3)
    finally:
        release.set()


def test_role_and_finish_chunks_without_content_are_accepted(server: _Server) -> None:
    server.reply = _sse(
        json.dumps({"choices": [{"delta": {"role": "assistant"}}]}),
        json.dumps({"choices": [{"delta": {"content": "Hello"}}]}),
        json.dumps({"choices": [{"delta": {"content": None}, "finish_reason": "stop"}]}),
        json.dumps({"choices": [], "usage": {"completion_tokens": 1}}),
        "[DONE]",
    )
    assert _ask(server.url) == "Hello"


# --- credentials in the URL -----------------------------------------------------------------


def test_credentials_in_the_url_are_sent_as_basic_auth_not_in_the_url(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    url = server.url.replace("http://", f"http://alice:{PASSWORD.replace('-', '%2D')}@")
    assert _ask(url) == "ok"
    request = server.requests[0]
    assert request["auth"] == "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
    assert request["path"] == "/v1/chat/completions"


def _surfaces(server_url: str) -> dict[str, Callable[[], str]]:
    """Every place a spec's URL is shown, as a function giving the text shown."""
    with_password = server_url.replace("http://", f"http://alice:{PASSWORD}@")
    spec = f"openai:{with_password}#m"

    def error_of(action: Callable[[], object]) -> str:
        try:
            action()
        except CoassistError as error:
            return str(error)
        raise AssertionError("no error")

    return {
        "describe": lambda: json.dumps(load_chat_model(spec).describe()),
        "model-spec-attribute": lambda: load_chat_model(spec).spec,
        "model-repr": lambda: repr(load_chat_model(spec)),
        "parsed-spec-repr": lambda: repr(parse_model_spec(spec)),
        "parsed-spec-text": lambda: parse_model_spec(spec).text,
        "unreachable-error": lambda: error_of(lambda: _ask(f"http://alice:{PASSWORD}@127.0.0.1:9/v1")),
        "http-error": lambda: error_of(lambda: _ask(with_password, model="m")),
        "bad-port-spec": lambda: error_of(lambda: parse_model_spec(f"openai:http://alice:{PASSWORD}@host:99999/v1#m")),
        "no-model-spec": lambda: error_of(lambda: parse_model_spec(f"openai:http://alice:{PASSWORD}@host/v1")),
        "slash-in-password": lambda: error_of(lambda: parse_model_spec(f"openai:http://alice:a/{PASSWORD}@host/v1#m")),
        "no-openai-prefix": lambda: error_of(lambda: parse_model_spec(f"http://alice:{PASSWORD}@host/v1#m")),
    }


SURFACES = list(_surfaces("http://x"))


@pytest.mark.parametrize("surface", SURFACES, ids=SURFACES)
def test_the_password_is_redacted_wherever_the_url_is_shown(surface: str, server: _Server) -> None:
    server.reply = _status(500, b"boom")
    shown = _surfaces(server.url)[surface]()
    assert PASSWORD not in shown and "alice" not in shown
    assert "***@" in shown or "127.0.0.1" in shown  # the URL is still there, minus its credentials


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("http://u:p@h:8000/v1", "http://***@h:8000/v1"),
        ("https://token@h/v1?x=1", "https://***@h/v1?x=1"),
        ("http://u:pa/ss@h/v1", "http://***@h/v1"),
        ("http://h/v1", "http://h/v1"),
        ("not a url with @ in it", "not a url with @ in it"),
    ],
    ids=["plain", "user-password", "token-only", "slash-in-password", "no-port", "not-a-url"],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("openai:http://host:abc/v1#m", "the port in 'http://host:abc/v1' is not a number from 1 to 65535"),
        ("openai:http://host:0/v1#m", "is not a number from 1 to 65535"),
        ("openai:http://host/v1?key=1#m", "the URL has a query string"),
        ("openai:http://ho st/v1#m", "spaces or control characters"),
        ("openai:ftp://host/v1#m", "is not an http(s) URL"),
        ("openai:http://host/v1", "names no model"),
    ],
    ids=["port-not-number", "port-zero", "query", "space", "ftp", "no-model"],
)
def test_malformed_endpoint_spec_says_what_is_wrong(spec: str, words: str) -> None:
    with pytest.raises(UnknownModelSpec) as caught:
        parse_model_spec(spec)
    assert words in str(caught.value)


# --- generation settings ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_new_tokens": 0}, "--max-new-tokens: must be a whole number >= 1, got 0"),
        ({"max_new_tokens": -5}, "--max-new-tokens: must be a whole number >= 1, got -5"),
        ({"max_new_tokens": 2.5}, "--max-new-tokens: must be a whole number >= 1, got 2.5"),
        ({"max_new_tokens": True}, "--max-new-tokens: must be a whole number >= 1, got True"),
        ({"max_new_tokens": "8"}, "--max-new-tokens: must be a whole number >= 1, got '8'"),
        ({"temperature": -1}, "--temperature: must be 0 (greedy) or a positive number such as 0.7, got -1.0"),
        ({"temperature": math.nan}, "--temperature: must be 0 (greedy) or a positive number such as 0.7, got nan"),
        ({"temperature": math.inf}, "--temperature: must be 0 (greedy) or a positive number such as 0.7, got inf"),
        ({"temperature": "hot"}, "--temperature: must be 0 (greedy) or a positive number such as 0.7, got 'hot'"),
        ({"temperature": None}, "--temperature: must be 0 (greedy) or a positive number such as 0.7, got None"),
        ({"top_p": 0}, "top_p: must be a number in (0, 1], such as 0.95, got 0.0"),
        ({"top_p": 1.5}, "top_p: must be a number in (0, 1], such as 0.95, got 1.5"),
        ({"top_p": math.nan}, "top_p: must be a number in (0, 1], such as 0.95, got nan"),
        ({"repetition_penalty": 0}, "repetition_penalty: must be a positive number such as 1.1 (1: off), got 0.0"),
        ({"repetition_penalty": -1.2}, "repetition_penalty: must be a positive number such as 1.1 (1: off), got -1.2"),
        ({"repetition_penalty": math.inf}, "repetition_penalty: must be a positive number such as 1.1 (1: off), got inf"),
        ({"repetition_penalty": "1.1"}, "repetition_penalty: must be a positive number such as 1.1 (1: off), got '1.1'"),
    ],
    ids=[
        "tokens-zero",
        "tokens-negative",
        "tokens-float",
        "tokens-bool",
        "tokens-string",
        "temperature-negative",
        "temperature-nan",
        "temperature-inf",
        "temperature-string",
        "temperature-none",
        "top-p-zero",
        "top-p-over-one",
        "top-p-nan",
        "penalty-zero",
        "penalty-negative",
        "penalty-inf",
        "penalty-string",
    ],
)
def test_bad_generation_setting_names_the_option(kwargs: dict, words: str) -> None:
    with pytest.raises(InvalidSetting) as caught:
        GenerationSettings(**kwargs)
    assert str(caught.value) == words
    assert isinstance(caught.value, ValueError) and caught.value.option == words.split(":")[0]


def test_numpy_settings_become_plain_numbers() -> None:
    settings = GenerationSettings(
        max_new_tokens=np.int64(12), temperature=np.float32(0.5), top_p=1, repetition_penalty=np.float32(1.25)
    )
    assert settings.as_dict() == {"max_new_tokens": 12, "temperature": 0.5, "top_p": 1.0, "repetition_penalty": 1.25}
    assert [type(v) for v in settings.as_dict().values()] == [int, float, float, float]


# --- devices and dtypes -----------------------------------------------------------------------


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda:-1", "", "meta", "xla", "mps", 3], ids=repr)
def test_unknown_device_lists_the_accepted_ones(device: str) -> None:
    with pytest.raises(InvalidSetting, match=r"is not a device coassist can use; use 'auto', 'cpu', 'cuda' or 'cuda:N'"):
        resolve_device(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a visible GPU")
def test_cuda_on_a_cpu_only_machine_says_what_to_set() -> None:
    with pytest.raises(DeviceUnavailable) as caught:
        resolve_device("cuda")
    assert str(caught.value) == (
        "device: 'cuda' was requested but no CUDA GPU is visible; set it to 'auto' or 'cpu' "
        "(in a notebook: %config Assist.device = 'auto')"
    )


def test_a_gpu_index_past_the_visible_ones_is_unavailable() -> None:
    with pytest.raises(DeviceUnavailable, match=r"'cuda:99' was requested but (no CUDA GPU|only \d+ CUDA GPU)"):
        resolve_device("cuda:99")


def test_device_and_dtype_names_are_normalised() -> None:
    assert resolve_device(" CPU ").type == "cpu"
    assert resolve_dtype(" BF16", torch.device("cpu")) == torch.bfloat16


@pytest.mark.parametrize("dtype", ["int3", "float64", "", "half-ish"], ids=repr)
def test_unknown_dtype_lists_the_accepted_ones(dtype: str) -> None:
    with pytest.raises(InvalidSetting, match=r"^dtype: unknown dtype .*; use one of: auto, float32, fp32, bfloat16"):
        resolve_dtype(dtype, torch.device("cpu"))


# --- prompt placeholders --------------------------------------------------------------------


class _Run:
    loss = 0.123456

    @property
    def broken(self) -> float:
        raise RuntimeError("not trained yet")


class _BadRepr:
    def __repr__(self) -> str:
        raise ValueError("repr exploded")


class _LoudStr(str):
    def __format__(self, spec: str) -> str:
        raise AssertionError("a str subclass's __format__ must not run")


CALLS: list[str] = []


def _namespace() -> dict:
    return {
        "df": pd.DataFrame({"a": [1, 2]}),
        "lst": [1, 2],
        "d": {"key": "value", "f": lambda: CALLS.append("called")},
        "f": lambda: CALLS.append("called"),
        "x": 42,
        "s": "text",
        "run": _Run(),
        "bad": _BadRepr(),
        "loud": _LoudStr("loud"),
        "n": np.int64(7),
    }


@pytest.mark.parametrize(
    ("template", "name", "words"),
    [
        ("{df:>10}", "df", "{df:>10} applies a format spec to a DataFrame; format specs work on numbers and text only"),
        ("{lst:{x}}", "lst", "{lst:{x}} nests a placeholder in its format spec, which is not supported"),
        ("{d[f]()}", "d", "{d[f]()} is not a placeholder coassist can fill: use {name}, {obj.attr}, {d[key]}"),
        ("{f()}", "f()", "nothing in braces is evaluated (no calls or expressions)"),
        ("{x + 1}", "x + 1", "is not a placeholder coassist can fill"),
        ('{"a": 1}', '"a"', '{"a": 1} is not a placeholder coassist can fill'),
        ("{x!z}", "x", "{x!z} has an unknown conversion !z; use !s, !r or !a, or none"),
        ("{x!rr}", None, "malformed placeholder (expected ':' after conversion specifier)"),
        ("{x:0>20000000}", "x", "{x:0>20000000} asks for a width or precision over 200"),
        ("{x:.100000f}", "x", "asks for a width or precision over 200"),
        ("{s:.2f}", "s", "{s:.2f} has a format spec that str values do not accept (Unknown format code 'f'"),
        ("{x:q}", "x", "{x:q} has a format spec that int values do not accept"),
        ("{x.__class__}", "x", "{x.__class__} reads an attribute starting with '_'"),
        ("{run._secret}", "run", "reads an attribute starting with '_'"),
        ("{run.broken}", "run", "{run.broken} cannot be looked up: RuntimeError: not trained yet"),
        ("{bad!r}", "bad", "{bad!r} failed to convert: ValueError: repr exploded"),
        ("{lst[9]}", "lst", "{lst[9]} cannot be looked up: IndexError"),
        ("{missing:>3}", "missing", "no variable 'missing'"),
    ],
    ids=[
        "spec-on-dataframe",
        "nested-spec",
        "call-after-index",
        "call",
        "expression",
        "json-literal",
        "unknown-conversion",
        "malformed-conversion",
        "huge-width",
        "huge-precision",
        "spec-wrong-for-str",
        "spec-wrong-for-int",
        "dunder-attribute",
        "private-attribute",
        "property-raises",
        "repr-raises",
        "index-out-of-range",
        "missing-with-spec",
    ],
)
def test_bad_placeholder_names_the_field_and_the_rule(template: str, name: str | None, words: str) -> None:
    CALLS.clear()
    with pytest.raises(PromptTemplateError) as caught:
        interpolate(f"Look at {template} please", _namespace(), str)
    assert words in str(caught.value) and caught.value.name == name
    assert "\n" not in str(caught.value)
    assert CALLS == []  # nothing in the user's namespace was called


@pytest.mark.parametrize(
    ("template", "filled"),
    [
        ("{x!r}", "42"),
        ("{s!r}", "'text'"),
        ("{s!a:>8}", "  'text'"),
        ("{x:>5}", "   42"),
        ("{n:03d}", "007"),
        ("{run.loss:.2f}", "0.12"),
        ("{loud:>6}", "  loud"),
        ("{d[key]}", "value"),
        ("{x:,}", "42"),
    ],
    ids=["repr-int", "repr-str", "ascii-with-spec", "int-width", "numpy-int", "float-precision", "str-subclass", "index", "grouping"],
)
def test_accepted_conversions_and_specs(template: str, filled: str) -> None:
    assert interpolate(template, _namespace(), str) == filled


def test_formatted_text_still_goes_through_the_value_budget() -> None:
    rendered: list[str] = []

    def render(value: object) -> str:
        rendered.append(str(value))
        return str(value)[:10]

    assert interpolate("{s:>150}", {"s": "t"}, render) == " " * 10
    assert rendered == [" " * 149 + "t"]


def test_interpolating_a_large_width_is_refused_before_building_it() -> None:
    started = time.perf_counter()
    with pytest.raises(PromptTemplateError):
        interpolate("{x:0>900000000}", {"x": 1}, str)
    assert time.perf_counter() - started < 1.0
