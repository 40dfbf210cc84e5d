"""Models this machine already has, each as the spec that selects it: causal LMs in the local
Hugging Face cache, and OpenAI-compatible servers (Ollama, vLLM, LM Studio) on 127.0.0.1.

`%assist models` lists them so that someone with a bigger model on disk, or a server already
running, can switch to it in one line. Nothing here downloads, loads weights, or talks to any
host but the local one. What a local server answers is untrusted: a name becomes part of a
spec, a ``%config`` line and terminal output, so only short names of safe characters are kept.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coassist.errors import UnknownModelSpec
from coassist.llm.spec import parse_model_spec

LOCAL_HOST = "127.0.0.1"
# Where Ollama, vLLM and LM Studio listen out of the box.
LOCAL_SERVER_PORTS: tuple[int, ...] = (11434, 8000, 1234)
# A local server answers /v1/models in milliseconds; one that takes longer is not worth
# making every `%assist models` wait for.
PROBE_SECONDS = 0.2
# A model list is a few kilobytes; far past that, the listener is not an OpenAI-style server.
MAX_LISTING_BYTES = 256 << 10
MAX_MODELS_PER_SERVER = 20
MAX_NAME_CHARS = 128
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+=-]*")
# A revision names a folder under snapshots/; anything path-like is a corrupt ref.
_SAFE_REVISION = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class CachedModel:
    """A causal LM whose complete snapshot is in the Hugging Face cache."""

    spec: str
    snapshot: Path
    size_bytes: int


@dataclass(frozen=True)
class ServedModel:
    """A model an OpenAI-compatible server on this machine says it serves."""

    base_url: str
    name: str

    @property
    def spec(self) -> str:
        return f"openai:{self.base_url}#{self.name}"


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache: ``HF_HUB_CACHE``, else ``HF_HOME/hub``, else
    ``~/.cache/huggingface/hub``, as huggingface_hub itself resolved it, so a listed
    ``org/name`` is found by the same lookup that loads it."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE).expanduser()


def cached_causal_lms(cache_dir: Path | None = None) -> list[CachedModel]:
    """The causal LMs in the hub cache whose ``refs/main`` snapshot is complete, by name.

    Other models (encoders, seq2seq), datasets, and snapshots that are partial or unreadable
    are skipped without a word: a cache holds all of these, and none is the user's error.
    """
    root = hub_cache_dir() if cache_dir is None else cache_dir
    try:
        repos = sorted(path for path in root.glob("models--*") if path.is_dir())
    except OSError:
        return []
    found = []
    for repo in repos:
        snapshot = _main_snapshot(repo)
        if snapshot is not None and _is_causal_lm(_read_json(snapshot / "config.json")) and _weights_complete(snapshot):
            found.append(CachedModel(_spec_for(repo, snapshot), snapshot, _size_on_disk(snapshot)))
    return found


def served_models(
    host: str = LOCAL_HOST, ports: Sequence[int] | None = None, timeout: float = PROBE_SECONDS
) -> list[ServedModel]:
    """What the OpenAI-compatible servers on `host` serve, asking every port at once.

    The ports are probed concurrently, so the whole probe takes about `timeout` however many
    there are. A port with nothing listening, a slow answer, or anything but a well-formed
    model list contributes nothing. `ports` defaults to `LOCAL_SERVER_PORTS`.
    """
    ports = LOCAL_SERVER_PORTS if ports is None else ports
    if not ports:
        return []
    with ThreadPoolExecutor(len(ports), thread_name_prefix="coassist-probe") as pool:
        listings = list(pool.map(lambda port: _models_at(host, port, timeout), ports))
    return [model for listing in listings for model in listing]


def model_names(listing: bytes) -> list[str]:
    """The model ids in a ``/v1/models`` answer, ``{"data": [{"id": ...}, ...]}``.

    Malformed entries and names that are too long or hold unsafe characters are dropped;
    at most `MAX_MODELS_PER_SERVER` names are kept.

    >>> model_names(b'{"data": [{"id": "llama3.2:latest"}, {"id": 7}, "x", {"id": "a b"}]}')
    ['llama3.2:latest']
    """
    try:
        document = json.loads(listing)
    except (ValueError, RecursionError):
        return []
    entries = document.get("data") if isinstance(document, dict) else None
    names: list[str] = []
    for entry in entries if isinstance(entries, list) else []:
        name = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(name, str) and len(name) <= MAX_NAME_CHARS and _SAFE_NAME.fullmatch(name) and name not in names:
            names.append(name)
            if len(names) == MAX_MODELS_PER_SERVER:
                break
    return names


def _models_at(host: str, port: int, timeout: float) -> list[ServedModel]:
    """The models one port serves; empty unless it answers a model list within `timeout`."""
    deadline = time.monotonic() + timeout
    connection = http.client.HTTPConnection(host, port, timeout=timeout)  # no proxy: local only
    try:
        connection.request("GET", "/v1/models", headers={"Accept": "application/json"})
        # Held here: when the server will close, getresponse hands the socket to the response.
        sock = connection.sock
        _shorten_timeout(sock, deadline)
        response = connection.getresponse()
        body = _read_before(response, sock, deadline) if response.status == 200 else b""
    except (OSError, http.client.HTTPException):
        return []
    finally:
        connection.close()
    return [ServedModel(f"http://{host}:{port}/v1", name) for name in model_names(body)]


def _read_before(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
    """The body if it all arrives before `deadline` and within `MAX_LISTING_BYTES`, else b""."""
    chunks: list[bytes] = []
    total = 0
    while chunk := response.read1(64 << 10):
        total += len(chunk)
        if total > MAX_LISTING_BYTES:
            return b""
        chunks.append(chunk)
        _shorten_timeout(sock, deadline)  # a server trickling bytes still ends at the deadline
    return b"".join(chunks)


def _shorten_timeout(sock: socket.socket, deadline: float) -> None:
    """Make the next read on `sock` give up at `deadline`, not a whole timeout from now."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the probe's time is up")
    sock.settimeout(remaining)


def _main_snapshot(repo: Path) -> Path | None:
    """The snapshot ``refs/main`` names: the one `snapshot_download` uses offline."""
    try:
        revision = (repo / "refs" / "main").read_text()
    except (OSError, UnicodeDecodeError):
        return None
    snapshot = repo / "snapshots" / revision
    return snapshot if _SAFE_REVISION.fullmatch(revision) and snapshot.is_dir() else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return None


def _is_causal_lm(config: Any) -> bool:
    """Whether a config.json describes a causal LM.

    By its ``architectures`` when it lists them: a name ending in ``ForCausalLM``, or a
    causal LM class transformers knows by another name (``GPT2LMHeadModel``). Only without
    them by its ``model_type``: a BERT encoder's type also maps to a causal LM head, so the
    type alone would list every sentence-embedding model in the cache.
    """
    if not isinstance(config, dict):
        return False
    listed = config.get("architectures")
    architectures = [name for name in listed if isinstance(name, str)] if isinstance(listed, list) else []
    if any(name.endswith("ForCausalLM") for name in architectures):
        return True  # nearly every model: decided without importing transformers (seconds)
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if architectures:
        return not set(architectures).isdisjoint(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    model_type = config.get("model_type")
    return isinstance(model_type, str) and model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES


def _weights_complete(snapshot: Path) -> bool:
    """Whether the weights are all there: a download cut short leaves config.json without
    them, or a shard index naming shards that never arrived (or dangling links to them)."""
    try:
        present = {path.name for path in snapshot.iterdir() if path.is_file()}  # follows links
    except OSError:
        return False
    for index in (name for name in present if name.endswith(".index.json")):
        shard_index = _read_json(snapshot / index)
        weight_map = shard_index.get("weight_map") if isinstance(shard_index, dict) else None
        if not isinstance(weight_map, dict) or not {str(shard) for shard in weight_map.values()} <= present:
            return False
    return any(name.endswith((".safetensors", ".bin")) for name in present)


def _spec_for(repo: Path, snapshot: Path) -> str:
    """``org/name`` from ``models--org--name``; the snapshot's path where that is no hub id
    spec (an org-less legacy name such as ``models--gpt2``)."""
    hub_id = repo.name.removeprefix("models--").replace("--", "/")
    try:
        if parse_model_spec(hub_id).location == hub_id:
            return hub_id
    except UnknownModelSpec:
        pass
    return str(snapshot)


def _size_on_disk(snapshot: Path) -> int:
    """Bytes of the files a snapshot links to, each blob counted once."""
    seen: dict[tuple[int, int], int] = {}
    for folder, _, files in os.walk(snapshot):
        for name in files:
            try:
                stat = os.stat(os.path.join(folder, name))
            except OSError:
                continue
            seen[(stat.st_dev, stat.st_ino)] = stat.st_size
    return sum(seen.values())
