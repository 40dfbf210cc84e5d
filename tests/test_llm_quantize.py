"""CPU precisions: int8 layers (the layer's arithmetic, loading, where it is refused), and
bf16-decode (fp32 weights read the prompt, a bf16 copy decodes) and bfloat16, the CPU's `auto`
without and with bf16 units."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

from coassist.errors import InvalidSetting
from coassist.llm import device as device_module
from coassist.llm.chat import GenerationSettings
from coassist.llm.device import resolve_dtype, resolve_precision
from coassist.llm.loading import decoding_copy, load_model_and_tokenizer
from coassist.llm.local import LocalChatModel
from coassist.llm.quantize import quantize_linear_layers
from coassist.train.lora import LoraTrainingConfig, _load_trainable

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "data" / "sft_example.jsonl"


def quantized_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, DynamicQuantizedLinear)]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_an_int8_layer_matches_the_float_layer_within_tolerance(bias: bool) -> None:
    torch.manual_seed(0)
    float_layer = nn.Sequential(nn.Linear(96, 40, bias=bias))
    x = torch.randn(2, 5, 96)
    expected = float_layer(x)

    assert quantize_linear_layers(float_layer) == 1
    got = float_layer(x)

    assert quantized_layers(float_layer) and got.shape == expected.shape and got.dtype == torch.float32
    relative_error = (got - expected).norm() / expected.norm()
    assert relative_error < 0.02, f"int8 drifted {relative_error:.3f} from fp32"
    assert not torch.equal(got, expected), "the layer was not quantised"


def test_quantize_replaces_every_linear_layer_including_the_output_head(tiny_model_dir: Path) -> None:
    loaded = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="float32")
    linear_count = sum(isinstance(m, nn.Linear) for m in loaded.model.modules())

    assert quantize_linear_layers(loaded.model) == linear_count > 0
    assert not any(type(m) is nn.Linear for m in loaded.model.modules())
    assert isinstance(loaded.model.lm_head, DynamicQuantizedLinear)


def test_a_model_loaded_as_int8_generates_and_says_so(tiny_model_dir: Path) -> None:
    reference = LocalChatModel(load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="float32"))
    model = LocalChatModel(load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="int8"))
    messages = [{"role": "user", "content": "def add(a, b):"}]
    input_ids = torch.tensor(model._encode([model.render_prompt(messages)], templated=True))

    with torch.inference_mode():
        logits = model.model(input_ids=input_ids).logits
        reference_logits = reference.model(input_ids=input_ids).logits
    generation = model.generate(messages, GenerationSettings(max_new_tokens=6, temperature=0.0))

    assert torch.allclose(logits, reference_logits, atol=0.05)
    assert generation.new_tokens > 0 and generation.text
    assert model.describe()["dtype"] == "int8" and reference.describe()["dtype"] == "float32"
    assert isinstance(model.model.lm_head, DynamicQuantizedLinear)


def test_int8_is_refused_off_the_cpu_and_named_among_the_accepted_dtypes() -> None:
    cuda = torch.device("cuda")  # a device object: the refusal needs no GPU to be checked
    with pytest.raises(InvalidSetting, match=r"^dtype: 'int8' \(int8 quantised layers\) runs on the CPU only"):
        resolve_precision("int8", cuda)
    with pytest.raises(InvalidSetting, match=r"use one of: auto, .*, int8, "):
        resolve_dtype("int4", torch.device("cpu"))
    assert resolve_precision(" INT8", torch.device("cpu")).quantization == "int8"
    assert resolve_dtype("int8", torch.device("cpu")) == torch.float32  # loaded as fp32, then quantised
    assert resolve_precision("auto", cuda).quantization is None and resolve_dtype("auto", cuda) == torch.bfloat16


def test_auto_on_a_cpu_without_bf16_units_reads_prompts_in_fp32_and_decodes_in_bf16(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(device_module, "cpu_has_bf16_units", lambda: False)
    cpu = resolve_precision("auto", torch.device("cpu"))
    assert (cpu.name, cpu.weights, cpu.decode, cpu.quantization) == ("bf16-decode", torch.float32, torch.bfloat16, None)
    assert resolve_precision(" BF16-Decode", torch.device("cpu")) == cpu
    assert resolve_precision("auto", torch.device("cuda")).decode is None  # bf16 does both on a GPU


def test_bf16_decode_reads_the_prompt_with_fp32_weights_and_decodes_with_a_bf16_copy(tiny_model_dir: Path) -> None:
    loaded = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="bf16-decode")
    assert {p.dtype for p in loaded.model.parameters()} == {torch.float32}
    assert {p.dtype for p in loaded.decode_model.parameters()} == {torch.bfloat16}
    for name, weight in loaded.decode_model.named_parameters():
        assert torch.equal(weight, loaded.model.get_parameter(name).to(torch.bfloat16)), name
    fed: list[tuple[torch.dtype, int]] = []  # each forward pass: the weights' dtype, tokens fed per row
    for weights in (loaded.model, loaded.decode_model):
        weights.register_forward_pre_hook(
            lambda module, args, kwargs: fed.append((module.dtype, kwargs["input_ids"].shape[1])), with_kwargs=True
        )
    model = LocalChatModel(loaded, draft_tokens=0)
    messages = [{"role": "user", "content": "def add(a, b):"}]

    generation = model.generate(messages, GenerationSettings(max_new_tokens=6))

    assert generation.new_tokens == 6 and model.describe()["dtype"] == "bf16-decode"
    assert fed == [(torch.float32, model.count_tokens(messages))] + [(torch.bfloat16, 1)] * 5


def test_a_decoding_copy_keeps_tied_weights_one_tensor_and_leaves_the_original() -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)

    copy = decoding_copy(model, torch.bfloat16)

    assert copy.lm_head.weight is copy.model.embed_tokens.weight  # SmolLM2's head: one bf16 tensor
    assert copy.lm_head.weight.dtype == torch.bfloat16 and model.lm_head.weight.dtype == torch.float32
    assert copy.model.rotary_emb.inv_freq.dtype == torch.float32  # positions as a bf16-loaded model has them
    assert sum(p.numel() for p in copy.parameters()) == sum(p.numel() for p in model.parameters())


def test_auto_on_the_cpu_follows_the_one_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_module, "cpu_auto_dtype", lambda: "int8")
    assert resolve_precision("auto", torch.device("cpu")).quantization == "int8"
    assert resolve_precision("auto", torch.device("cuda")).quantization is None


@pytest.mark.parametrize(("units", "expected"), [(True, "bfloat16"), (False, "bf16-decode")])
def test_auto_on_the_cpu_is_bf16_where_the_cpu_multiplies_bf16(
    monkeypatch: pytest.MonkeyPatch, units: bool, expected: str
) -> None:
    """bf16 weights throughout where the CPU has bf16 units; fp32 for prompts and a bf16 copy
    for decoding where bf16 arithmetic is emulated (docs/inference.md measures both)."""
    monkeypatch.setattr(device_module, "cpu_has_bf16_units", lambda: units)
    assert resolve_precision("auto", torch.device("cpu")).name == expected


def test_fine_tuning_loads_float_weights_even_when_auto_means_int8(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_module, "cpu_auto_dtype", lambda: "int8")
    config = LoraTrainingConfig(EXAMPLES, tmp_path / "out", base=str(tiny_model_dir), device="cpu", progress=False)

    model, _, _ = _load_trainable(config)

    assert not quantized_layers(model)
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert any(p.requires_grad for p in model.parameters())
