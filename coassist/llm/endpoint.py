"""An OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server) as a `ChatModel`.

Uses only the standard library: `/chat/completions` with ``stream: true`` returns
server-sent events, one ``data: {json}`` line per chunk, ending with ``data: [DONE]``.

Nothing the server sends is trusted: redirects are refused (following one would send the
API key to another origin and take that origin's text as the model's answer), every chunk
is checked before use, and lines and whole answers are read with a size bound. Each
failure is an `EndpointError` that says what was wrong and what to check.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin

from coassist.errors import EndpointError, InvalidSetting, PromptTooLong
from coassist.llm.chat import (
    BATCH_WIDTH,
    AnswerCallback,
    FinishReason,
    Generation,
    GenerationSettings,
    Message,
    TextCallback,
    check_width,
)
from coassist.llm.degenerate import LOOP_CHECK_TOKENS, is_degenerate, settle_loop
from coassist.llm.spec import ModelSpec, redact_url

# Without the server's tokenizer we estimate: about four characters a token for English and
# code. Used only to decide what conversation history to keep, never to truncate a prompt.
CHARS_PER_TOKEN = 4

# A chunk is a few hundred bytes and a long answer a few hundred kilobytes of them; far past
# either, the server is broken or hostile, and buffering more would only exhaust memory.
MAX_LINE_BYTES = 1 << 20
MAX_STREAM_BYTES = 16 << 20
# How much of a bad chunk or error body an error message quotes.
SHOWN_CHARS = 200


_Route = Literal["chat/completions", "completions"]
"""The two OpenAI routes used: chat for questions, plain completions for inline completion."""

_Prompt = TypeVar("_Prompt", list[Message], str)
"""What one request of a batch asks: chat messages, or text to continue."""


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Turn every 3xx into an `HTTPError`, which `_http_error` explains."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        raise urllib.error.HTTPError(req.full_url, code, msg, headers, fp)


_OPENER = urllib.request.build_opener(_RefuseRedirects)


class EndpointChatModel:
    """A `ChatModel` that streams from ``{base_url}/chat/completions``.

    The API key, if the server wants one, comes from ``OPENAI_API_KEY``; a
    ``user:password@`` in the spec's URL is sent as HTTP Basic auth instead.
    `max_concurrent_requests` bounds how many requests a batch keeps in flight.
    """

    def __init__(
        self, spec: ModelSpec, context_length: int = 8192, timeout: float = 120.0, max_concurrent_requests: int = 8
    ) -> None:
        if type(max_concurrent_requests) is not int or max_concurrent_requests < 1:
            raise InvalidSetting("max_concurrent_requests", f"must be a whole number >= 1, got {max_concurrent_requests!r}")
        self.spec = spec.text  # credentials already replaced by ***
        self.base_url = spec.location  # no credentials: they travel only in the header
        self.model_name = spec.model or ""
        self.context_length = context_length
        self.timeout = timeout
        self.max_concurrent_requests = max_concurrent_requests
        self._credentials = spec.credentials

    def __repr__(self) -> str:
        return f"EndpointChatModel({self.spec!r})"

    def render_prompt(self, messages: list[Message]) -> str:
        return json.dumps({"model": self.model_name, "messages": messages}, indent=2, ensure_ascii=False)

    def count_tokens(self, messages: list[Message]) -> int:
        return sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN + 4 * len(messages)

    def generate(
        self,
        messages: list[Message],
        settings: GenerationSettings,
        on_text: TextCallback | None = None,
        stop: threading.Event | None = None,
    ) -> Generation:
        started = time.perf_counter()
        estimate = self.count_tokens(messages)
        if estimate + settings.max_new_tokens > self.context_length:
            raise PromptTooLong(estimate, settings.max_new_tokens, self.context_length)
        return self._collect("chat/completions", {"messages": messages}, settings, on_text, stop, started)

    def continue_text(
        self, text: str, settings: GenerationSettings, stop: threading.Event | None = None
    ) -> Generation:
        """What comes after `text`, from the server's plain ``/completions`` (no chat template)."""
        started = time.perf_counter()
        estimate = len(text) // CHARS_PER_TOKEN
        if estimate + settings.max_new_tokens > self.context_length:
            raise PromptTooLong(estimate, settings.max_new_tokens, self.context_length)
        return self._collect("completions", {"prompt": text}, settings, None, stop, started)

    def _collect(
        self,
        route: _Route,
        prompt: dict[str, Any],
        settings: GenerationSettings,
        on_text: TextCallback | None,
        stop: threading.Event | None,
        started: float,
    ) -> Generation:
        """Stream one answer: pass pieces on, stop on the event or on a loop, say why it ended."""
        pieces: list[str] = []
        first_token_at: float | None = None
        ending: dict[str, str] = {}
        finish: FinishReason = "stop"
        for piece in self._stream(route, prompt, settings, ending):
            first_token_at = first_token_at or time.perf_counter()
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)
            if stop is not None and stop.is_set():
                finish = "interrupted"
                break
            if len(pieces) % LOOP_CHECK_TOKENS == 0 and is_degenerate("".join(pieces)):
                finish = "repetition"
                break
        if finish == "stop" and ending.get("finish_reason") == "length":
            finish = "length"
        text, finish = settle_loop("".join(pieces), finish)
        first = None if first_token_at is None else first_token_at - started
        return Generation(text, finish, len(pieces), first, time.perf_counter() - started)

    def generate_batch(
        self,
        conversations: list[list[Message]],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        """The answers in input order, each its own request with its own timings (see `_concurrently`)."""
        return self._concurrently(
            lambda messages, abandon: self.generate(messages, settings, None, abandon), conversations, width, on_answer
        )

    def continue_text_batch(
        self,
        texts: list[str],
        settings: GenerationSettings,
        width: int = BATCH_WIDTH,
        on_answer: AnswerCallback | None = None,
    ) -> list[Generation]:
        """The continuations in input order, each its own ``/completions`` request (see `_concurrently`)."""
        return self._concurrently(lambda text, abandon: self.continue_text(text, settings, abandon), texts, width, on_answer)

    def _concurrently(
        self,
        answer: Callable[[_Prompt, threading.Event], Generation],
        prompts: list[_Prompt],
        width: int,
        on_answer: AnswerCallback | None,
    ) -> list[Generation]:
        """`answer` for every prompt, in input order, with up to `width` requests in flight
        (never more than `max_concurrent_requests`); `on_answer` hears of each as it comes.

        The server batches concurrent requests itself (vLLM's continuous batching), so a batch
        takes about as long as its slowest answer rather than the sum of them all.

        Raises
        ------
        EndpointError, PromptTooLong
            The first failure, once no request is left running: on a failure the requests
            still streaming stop at their next chunk (`answer` gets the event that abandons
            them), those not yet sent are dropped, and every read is bounded by `timeout`, so
            no worker thread outlives the call.
        """
        check_width(width)
        if not prompts:
            return []
        abandon = threading.Event()
        workers = min(width, self.max_concurrent_requests, len(prompts))
        executor = ThreadPoolExecutor(workers, thread_name_prefix="coassist-endpoint")
        try:
            futures = [executor.submit(answer, prompt, abandon) for prompt in prompts]
            finished = _hand_on_until_failure(futures, on_answer)
        finally:
            abandon.set()  # also on KeyboardInterrupt: the kernel must not wait out whole answers
            executor.shutdown(wait=True, cancel_futures=True)
        # Only failures from before the abandonment: a request cut off by it (a read that then
        # timed out) is a consequence, not the cause.
        for future in futures:
            error = future.exception() if future in finished else None
            if error is not None:
                raise error
        return [future.result() for future in futures]

    def describe(self) -> dict[str, Any]:
        return {"model": self.spec, "kind": "openai", "endpoint": self.base_url, "adapter": None}

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._credentials is not None:
            token = base64.b64encode(":".join(self._credentials).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif api_key := os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {api_key}"
        return headers

    def _stream(
        self, route: _Route, prompt: dict[str, Any], settings: GenerationSettings, ending: dict[str, str]
    ) -> Iterator[str]:
        """The answer's text pieces as they arrive; the last ``finish_reason`` seen goes into `ending`."""
        body: dict[str, Any] = {
            "model": self.model_name,
            **prompt,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "stream": True,
        }
        if settings.temperature > 0:
            body["top_p"] = settings.top_p
        if settings.repetition_penalty != 1.0:  # vLLM's extension of the OpenAI body
            body["repetition_penalty"] = settings.repetition_penalty
        url = f"{self.base_url}/{route}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=self._headers(), method="POST")
        try:
            response = _OPENER.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            with error:
                raise self._http_error(error, url) from error
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            raise EndpointError(f"cannot reach the model endpoint {self.base_url}: {error}") from error
        with response:
            if response.status != 200:
                raise EndpointError(
                    f"{self.base_url} answered HTTP {response.status} instead of 200 with a stream: "
                    f"{_shown(_read_some(response))}"
                )
            content_type = response.headers.get("Content-Type", "")
            if content_type and not content_type.lower().startswith("text/event-stream"):
                raise EndpointError(
                    f"{self.base_url} answered with {_shown(content_type)}, not a stream of server-sent "
                    f"events: {_shown(_read_some(response))}. Check that the spec's URL is the API root, "
                    f"such as http://host:8000/v1"
                )
            for data in _events(response, self.base_url):
                if data == "[DONE]":
                    return
                yield from _contents(data, self.base_url, ending)

    def _http_error(self, error: urllib.error.HTTPError, url: str) -> EndpointError:
        if 300 <= error.code < 400:
            location = error.headers.get("Location")
            if not location:
                return EndpointError(f"{self.base_url} answered HTTP {error.code} (a redirect) without a Location")
            target = _shown(redact_url(urljoin(url, location)))
            final = target.removesuffix("/chat/completions")
            return EndpointError(
                f"the endpoint {self.base_url} redirected (HTTP {error.code}) to {target}; coassist does not "
                f"follow redirects, so credentials never reach another server. Put the final URL in the spec: "
                f"openai:{final}#{self.model_name}"
            )
        hint = {
            401: " Check OPENAI_API_KEY (or the user:password in the spec's URL).",
            403: " Check OPENAI_API_KEY (or the user:password in the spec's URL).",
            404: f" Check that the spec's URL is the API root (such as http://host:8000/v1) and that the "
            f"server serves a model named {self.model_name!r}.",
        }.get(error.code, "")
        return EndpointError(f"{self.base_url} answered HTTP {error.code}: {_shown(_read_some(error))}.{hint}")


def _events(response: Any, where: str) -> Iterator[str]:
    """The payloads of an SSE stream's ``data:`` lines, each line and the total read with a bound."""
    total = 0
    seen_data = False
    other: list[str] = []  # non-data text, quoted if the body turns out not to be SSE at all
    while True:
        try:
            raw = response.readline(MAX_LINE_BYTES + 1)
        except (OSError, http.client.HTTPException) as error:
            raise EndpointError(f"{where} stopped answering in the middle of the stream: {error!r}") from error
        if not raw:
            break
        total += len(raw)
        if len(raw) > MAX_LINE_BYTES:
            raise EndpointError(f"{where} sent a line longer than {MAX_LINE_BYTES >> 20} MiB; is it an OpenAI-compatible API?")
        if total > MAX_STREAM_BYTES:
            raise EndpointError(
                f"{where} sent more than {MAX_STREAM_BYTES >> 20} MiB for one answer; lower --max-new-tokens"
            )
        line = raw.decode("utf-8", errors="replace").strip()
        if line.startswith("data:"):
            seen_data = True
            yield line[len("data:") :].strip()
        elif line and len(other) < 5:
            other.append(line)
    if not seen_data:
        raise EndpointError(
            f"{where} ended its answer without any server-sent events (data: lines): {_shown(' '.join(other)) or '(empty)'}"
        )


def _contents(data: str, where: str, ending: dict[str, str]) -> Iterator[str]:
    """The text pieces of one ``chat.completion.chunk`` (or ``/completions`` chunk, whose choices
    carry ``text``), or `EndpointError` saying what is malformed.

    A choice's ``finish_reason`` (``"length"`` when the answer was cut off) goes into `ending`.
    """
    try:
        chunk = json.loads(data)
    except (ValueError, RecursionError):
        raise EndpointError(f"{where} sent a chunk that is not JSON: {_shown(data)}") from None
    if not isinstance(chunk, dict):
        raise EndpointError(f"{where} sent a chunk that is not a JSON object: {_shown(data)}")
    if "error" in chunk:
        error = chunk["error"]
        message = error.get("message", error) if isinstance(error, dict) else error
        text = message if isinstance(message, str) else json.dumps(message)
        raise EndpointError(f"{where} reported an error in the stream: {_shown(text)}")
    if "choices" not in chunk:
        raise EndpointError(f"{where} sent a chunk without 'choices': {_shown(data)}")
    choices = chunk["choices"]
    if not isinstance(choices, list):
        raise EndpointError(f"{where} sent a chunk whose 'choices' is not a list: {_shown(data)}")
    for choice in choices:
        delta: Any = choice.get("delta") if isinstance(choice, dict) else None
        if isinstance(choice, dict) and "text" in choice and "delta" not in choice:
            delta = {"content": choice["text"]}  # a /completions chunk
        if not isinstance(delta, dict):
            raise EndpointError(f"{where} sent a choice without a 'delta' object: {_shown(data)}")
        if isinstance(choice.get("finish_reason"), str):
            ending["finish_reason"] = choice["finish_reason"]
        content = delta.get("content")
        if content is None:  # a role-only or finish chunk
            continue
        if not isinstance(content, str):
            raise EndpointError(f"{where} sent a 'content' that is not a string: {_shown(data)}")
        if content:
            yield content


def _read_some(response: Any) -> str:
    """The start of a body, for an error message; never the whole of a possibly huge one."""
    try:
        return response.read(4 * SHOWN_CHARS).decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException):
        return "(the body could not be read)"


def _shown(text: str) -> str:
    """`text` on one line and at most `SHOWN_CHARS` long, to quote in a one-line error."""
    flat = " ".join(text.split())
    return flat if len(flat) <= SHOWN_CHARS else f"{flat[:SHOWN_CHARS]}… ({len(flat)} characters)"


def _hand_on_until_failure(futures: list[Future[Generation]], on_answer: AnswerCallback | None) -> set[Future[Generation]]:
    """Wait for the requests, handing each answer to `on_answer` (in this thread) as it comes;
    stop at the first failure. Returns the requests finished by then."""
    index = {future: position for position, future in enumerate(futures)}
    finished: set[Future[Generation]] = set()
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        finished |= done
        if any(future.exception() is not None for future in done):
            return finished
        for future in sorted(done, key=index.__getitem__):
            if on_answer is not None:
                on_answer(index[future], future.result())
    return finished
