"""The assistant model: resolve a model spec, load it once, generate and stream.

>>> from coassist.llm import parse_model_spec
>>> parse_model_spec("smollm2").kind
'embedded'
"""

from __future__ import annotations

import os
import threading

from coassist.llm.chat import ChatModel, GenerationSettings, Message
from coassist.llm.spec import ACCEPTED_SPECS, DEFAULT_SPEC, ModelSpec, parse_model_spec

__all__ = [
    "ACCEPTED_SPECS",
    "ChatModel",
    "GenerationSettings",
    "Message",
    "ModelSpec",
    "load_chat_model",
    "loaded_models",
    "parse_model_spec",
]

_loaded: dict[tuple[str, str, str, int], ChatModel] = {}
_loading_lock = threading.Lock()


def load_chat_model(spec: str | os.PathLike[str] = DEFAULT_SPEC, device: str = "auto", dtype: str = "auto") -> ChatModel:
    """The chat model a spec names (a path works too), loaded once per process and reused after.

    Loading SmolLM2 takes a second from the cache; keeping it means every `%%assist` cell
    after the first answers at once. Endpoints load nothing and are cheap to make.
    """
    text = os.fspath(spec).strip()
    key = (text, device, dtype, _directory_version(text))
    with _loading_lock:
        if key not in _loaded:
            for stale in [k for k in _loaded if k[:3] == key[:3]]:
                del _loaded[stale]  # an older version of a rewritten directory: free its memory
            _loaded[key] = _load(text, device, dtype)
        return _loaded[key]


def _directory_version(spec: str) -> int:
    """The newest modification time among a model directory's files (0 for other specs).

    Part of the cache key, so retraining an adapter into the same directory loads the new
    weights instead of returning the model loaded before.
    """
    path = os.path.expanduser(spec)
    if not os.path.isdir(path):
        return 0
    return max((entry.stat().st_mtime_ns for entry in os.scandir(path) if entry.is_file()), default=0)


def loaded_models() -> list[ChatModel]:
    """Models this process holds in memory (for `%assist doctor`)."""
    return list(_loaded.values())


def _load(spec: str, device: str, dtype: str) -> ChatModel:
    parsed = parse_model_spec(spec)
    if parsed.kind == "openai":
        from coassist.llm.endpoint import EndpointChatModel

        return EndpointChatModel(parsed)
    from coassist.llm.loading import load_model_and_tokenizer
    from coassist.llm.local import LocalChatModel

    return LocalChatModel(load_model_and_tokenizer(parsed, device=device, dtype=dtype))
