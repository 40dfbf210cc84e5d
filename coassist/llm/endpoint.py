"""An OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server) as a `ChatModel`.

Uses only the standard library: `/chat/completions` with ``stream: true`` returns
server-sent events, one ``data: {json}`` line per chunk, ending with ``data: [DONE]``.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from coassist.errors import EndpointError, PromptTooLong
from coassist.llm.chat import GenerationSettings, Message, TextCallback
from coassist.llm.spec import ModelSpec

# Without the server's tokenizer we estimate: about four characters a token for English and
# code. Used only to decide what conversation history to keep, never to truncate a prompt.
CHARS_PER_TOKEN = 4


class EndpointChatModel:
    """A `ChatModel` that streams from ``{base_url}/chat/completions``.

    The API key, if the server wants one, comes from ``OPENAI_API_KEY``.
    """

    def __init__(self, spec: ModelSpec, context_length: int = 8192, timeout: float = 120.0) -> None:
        self.spec = spec.text
        self.base_url = spec.location
        self.model_name = spec.model or ""
        self.context_length = context_length
        self.timeout = timeout

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
    ) -> str:
        estimate = self.count_tokens(messages)
        if estimate + settings.max_new_tokens > self.context_length:
            raise PromptTooLong(estimate, settings.max_new_tokens, self.context_length)
        pieces: list[str] = []
        for piece in self._stream(messages, settings):
            pieces.append(piece)
            if on_text is not None:
                on_text(piece)
            if stop is not None and stop.is_set():
                break
        return "".join(pieces)

    def generate_batch(self, conversations: list[list[Message]], settings: GenerationSettings) -> list[str]:
        # The server batches concurrent requests itself (vLLM's continuous batching); one
        # request at a time keeps this client simple and the order deterministic.
        return [self.generate(messages, settings) for messages in conversations]

    def describe(self) -> dict[str, Any]:
        return {"model": self.spec, "kind": "openai", "endpoint": self.base_url, "adapter": None}

    def _stream(self, messages: list[Message], settings: GenerationSettings) -> Iterator[str]:
        body = {
            "model": self.model_name,
            "messages": messages,
            "max_tokens": settings.max_new_tokens,
            "temperature": settings.temperature,
            "stream": True,
        }
        if settings.temperature > 0:
            body["top_p"] = settings.top_p
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if api_key := os.environ.get("OPENAI_API_KEY"):
            headers["Authorization"] = f"Bearer {api_key}"
        request = urllib.request.Request(
            f"{self.base_url}/chat/completions", data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:500]
            raise EndpointError(f"{self.base_url} answered HTTP {error.code}: {detail}") from error
        except (urllib.error.URLError, OSError) as error:
            raise EndpointError(f"cannot reach the model endpoint {self.base_url}: {error}") from error
        with response:
            for raw in response:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[len("data:") :].strip()
                if data == "[DONE]":
                    return
                chunk = json.loads(data)
                if "error" in chunk:
                    raise EndpointError(f"{self.base_url} reported an error: {chunk['error']}")
                for choice in chunk.get("choices", []):
                    if content := choice.get("delta", {}).get("content"):
                        yield content
