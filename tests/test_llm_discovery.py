"""Finding the models a machine already has: a real Hugging Face cache layout built in a temp
directory (a tiny model saved where `hf download` would put it), and real servers on
127.0.0.1 answering ``GET /v1/models`` well, slowly, or with garbage."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from coassist.llm import discovery, loaded_models, parse_model_spec
from coassist.llm.discovery import MAX_MODELS_PER_SERVER, cached_causal_lms, model_names, served_models
from coassist.llm.loading import load_model_and_tokenizer
from tests.tiny_models import build_tiny_causal_lm

LLAMA_CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
WEIGHTS = {"model.safetensors": b"\0" * 64}


def _cached_repo(hub: Path, folder: str, files: dict[str, bytes | dict], ref: str | None = "rev1") -> Path:
    """A repo folder as huggingface_hub lays it out, its snapshot holding `files`."""
    snapshot = hub / folder / "snapshots" / "rev1"
    snapshot.mkdir(parents=True)
    for name, content in files.items():
        (snapshot / name).write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    if ref is not None:
        (hub / folder / "refs").mkdir()
        (hub / folder / "refs" / "main").write_text(ref)
    return snapshot


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A hub cache with one real tiny model and one entry of each kind that must be skipped."""
    root = tmp_path_factory.mktemp("hf") / "hub"
    build_tiny_causal_lm(root / "models--acme--tiny" / "snapshots" / "abc")
    (root / "models--acme--tiny" / "refs").mkdir()
    (root / "models--acme--tiny" / "refs" / "main").write_text("abc")
    _cached_repo(root, "models--acme--typed", {"config.json": {"model_type": "llama"}, **WEIGHTS})
    _cached_repo(root, "models--gpt2", {"config.json": {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}, **WEIGHTS})
    _cached_repo(root, "models--legacy", {"config.json": {"model_type": "gpt2"}, **WEIGHTS})
    _cached_repo(root, "models--acme--odd-type", {"config.json": {"model_type": ["llama"]}, **WEIGHTS})
    # Skipped: not a causal LM, not a model, incomplete or unreadable.
    _cached_repo(root, "models--acme--encoder", {"config.json": {"architectures": ["BertModel"], "model_type": "bert"}, **WEIGHTS})
    _cached_repo(root, "models--acme--seq2seq", {"config.json": {"architectures": ["T5ForConditionalGeneration"]}, **WEIGHTS})
    _cached_repo(root, "datasets--acme--data", {"config.json": LLAMA_CONFIG, **WEIGHTS})
    _cached_repo(root, "models--acme--no-weights", {"config.json": LLAMA_CONFIG})
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    _cached_repo(
        root,
        "models--acme--half-sharded",
        {"config.json": LLAMA_CONFIG, "model.safetensors.index.json": index, "model-00001-of-00002.safetensors": b"\0"},
    )
    _cached_repo(root, "models--acme--no-ref", {"config.json": LLAMA_CONFIG, **WEIGHTS}, ref=None)
    _cached_repo(root, "models--acme--bad-ref", {"config.json": LLAMA_CONFIG, **WEIGHTS}, ref="../../models--acme--tiny/snapshots/abc")
    _cached_repo(root, "models--acme--bad-config", {"config.json": b"{not json", **WEIGHTS})
    _cached_repo(root, "models--acme--list-config", {"config.json": b"[1, 2]", **WEIGHTS})
    dangling = _cached_repo(root, "models--acme--dangling", {"config.json": LLAMA_CONFIG})
    (dangling / "model.safetensors").symlink_to(root / "blobs-never-downloaded")
    return root


def test_lists_complete_causal_lms_and_skips_the_rest_quietly(hub: Path) -> None:
    models = cached_causal_lms(hub)
    tiny_snapshot = hub / "models--acme--tiny" / "snapshots" / "abc"
    # models--gpt2 and models--legacy have no org, so no hub id names them: their path does.
    assert [m.spec for m in models] == [
        "acme/tiny",
        "acme/typed",
        str(hub / "models--gpt2" / "snapshots" / "rev1"),
        str(hub / "models--legacy" / "snapshots" / "rev1"),
    ]
    tiny = models[0]
    assert tiny.snapshot == tiny_snapshot
    assert tiny.size_bytes == sum(path.stat().st_size for path in tiny_snapshot.iterdir())
    assert tiny.size_bytes > (tiny_snapshot / "model.safetensors").stat().st_size
    assert all(parse_model_spec(m.spec).kind == "hf" for m in models)


def test_a_missing_cache_lists_nothing(tmp_path: Path) -> None:
    assert cached_causal_lms(tmp_path / "no-such-hub") == []


def test_a_listed_hub_id_loads_from_that_cache(hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    assert discovery.hub_cache_dir() == hub
    [tiny, *_] = cached_causal_lms()
    loaded = load_model_and_tokenizer(tiny.spec, device="cpu")
    assert Path(loaded.directory).resolve() == tiny.snapshot.resolve()


# --- local servers ----------------------------------------------------------------------------

GOOD_LISTING = {
    "object": "list",
    "data": [
        {"id": "llama3.2:latest", "object": "model"},
        {"id": "Qwen/Qwen2.5-7B-Instruct"},
        {"id": "llama3.2:latest"},  # a duplicate
        {"id": 42},
        {"name": "no id"},
        "not an object",
        {"id": ""},
        {"id": "x" * 500},
        {"id": "evil\u001b[2J"},
        {"id": 'quote" %run bad.py'},
    ],
}


class _ListingServer:
    """Answers GET /v1/models with `body` after `delay` seconds."""

    def __init__(self, body: bytes, delay: float = 0.0) -> None:
        released = threading.Event()
        self.released = released

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                if released.wait(delay):
                    return
                try:
                    self.send_response(200 if self.path == "/v1/models" else 404)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the probe gave up, as it should

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def servers() -> Iterator[dict[str, _ListingServer]]:
    many = {"data": [{"id": f"model-{i}"} for i in range(MAX_MODELS_PER_SERVER + 10)]}
    started = {
        "good": _ListingServer(json.dumps(GOOD_LISTING).encode()),
        "many": _ListingServer(json.dumps(many).encode()),
        "garbage": _ListingServer(b"\x00\xff<html>not json{{"),
        "wrong-shape": _ListingServer(b'{"data": {"id": "m"}}'),
        **{f"slow-{i}": _ListingServer(json.dumps(GOOD_LISTING).encode(), delay=1.0) for i in range(3)},
    }
    yield started
    for server in started.values():
        server.close()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_only_prompt_well_formed_listings_are_shown(servers: dict[str, _ListingServer]) -> None:
    ports = [server.port for server in servers.values()] + [_closed_port()]
    started = time.perf_counter()
    found = served_models(ports=ports)
    elapsed = time.perf_counter() - started
    good, many = servers["good"].port, servers["many"].port
    assert [m.spec for m in found if m.base_url.endswith(f":{good}/v1")] == [
        f"openai:http://127.0.0.1:{good}/v1#llama3.2:latest",
        f"openai:http://127.0.0.1:{good}/v1#Qwen/Qwen2.5-7B-Instruct",
    ]
    assert [m.name for m in found if m.base_url.endswith(f":{many}/v1")] == [
        f"model-{i}" for i in range(MAX_MODELS_PER_SERVER)
    ]
    assert {m.base_url for m in found} == {f"http://127.0.0.1:{good}/v1", f"http://127.0.0.1:{many}/v1"}
    # Three servers answer after 1 s: asked one after another they would cost 3 x 0.2 s.
    assert elapsed < 0.5, f"the probe took {elapsed:.2f} s"
    for spec in (m.spec for m in found):
        parsed = parse_model_spec(spec)
        assert (parsed.kind, spec.endswith(f"#{parsed.model}")) == ("openai", True)


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b'{"data": null}', b'{"data": "m"}', b"[" * 100_000, b'{"data": [{"id": ["m"]}]}'],
)
def test_malformed_listings_give_no_names(body: bytes) -> None:
    assert model_names(body) == []


# --- %assist models -----------------------------------------------------------------------------


def test_the_magic_shows_each_model_with_the_line_that_switches_to_it(
    shell, hub: Path, servers: dict[str, _ListingServer], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import constants

    good = servers["good"].port
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub))
    monkeypatch.setattr(discovery, "LOCAL_SERVER_PORTS", (good, servers["garbage"].port))
    shell.run_line_magic("assist", "models")
    out = capsys.readouterr().out
    assert f"causal LMs in the Hugging Face cache ({hub}):" in out
    assert '%config Assist.model = "acme/tiny"    (or %%assist -m acme/tiny for one cell)' in out
    endpoint = f"openai:http://127.0.0.1:{good}/v1#Qwen/Qwen2.5-7B-Instruct"
    assert f'%config Assist.model = "{endpoint}"    (or %%assist -m {endpoint} for one cell)' in out
    assert "acme/encoder" not in out and "no-weights" not in out and "evil" not in out
    assert "current model:" in out and "accepted model specs:" in out  # what it showed before

    # The switch line works as printed: the next question loads the model from that cache.
    switch = re.search(r'%config (Assist\.model = "acme/tiny")', out)
    assert switch is not None
    shell.run_line_magic("config", switch.group(1))
    shell.run_line_magic("assist", "-f text say hi")
    assert [model.spec for model in loaded_models() if model.spec == "acme/tiny"] == ["acme/tiny"]


def test_the_magic_says_how_to_get_a_model_when_there_is_none(
    shell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hub"))
    monkeypatch.setattr(discovery, "LOCAL_SERVER_PORTS", (_closed_port(),))
    shell.run_line_magic("assist", "models")
    out = capsys.readouterr().out
    assert "(none) download one where there is internet, e.g. `hf download" in out
    assert "(none answering) start one, e.g. `ollama serve`" in out
    assert "%config Assist.model" not in out
