"""Packed bf16 linear layers (coassist.llm.packed): the same bits as torch's
plain bf16 linear, row for row whatever the number of rows, so packing changes no answer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from coassist.llm import GenerationSettings
from coassist.llm.decoding import use_row_exact_attention
from coassist.llm.loading import load_model_and_tokenizer
from coassist.llm.local import LocalChatModel
from coassist.llm.packed import PackedLinear, pack_linear_layers, packing_helps

needs_packing = pytest.mark.skipif(
    not packing_helps(torch.device("cpu")), reason="this CPU has no bf16 units (cpu_has_bf16_units): nothing is packed"
)


@needs_packing
@pytest.mark.parametrize("bias", [False, True])
def test_a_packed_layer_computes_torchs_bf16_linear_bit_for_bit_row_by_row(bias: bool) -> None:
    torch.manual_seed(0)
    linear = nn.Linear(96, 160, bias=bias).to(torch.bfloat16)
    packed = PackedLinear(linear)
    rows = torch.randn(1, 9, 96).to(torch.bfloat16)
    with torch.inference_mode():
        together = packed(rows)
        assert torch.equal(together, linear(rows))
        for position in range(rows.shape[1]):  # a step of one token, or a step with its draft
            assert torch.equal(packed(rows[:, position : position + 1]), together[:, position : position + 1])


@needs_packing
@pytest.mark.parametrize(("inputs", "outputs"), [(576, 1536), (1536, 576)])
def test_a_lone_row_is_what_it_is_beside_other_rows_at_smollm2s_shapes(inputs: int, outputs: int) -> None:
    """SmolLM2's MLP shapes: on an AMD EPYC with AVX-512 BF16 a lone row of 1,536 inputs summed
    in another order than the same row beside others, until lone rows went through as pairs."""
    torch.manual_seed(0)
    linear = nn.Linear(inputs, outputs, bias=False).to(torch.bfloat16)
    linear.weight.data.mul_(0.1)
    packed = PackedLinear(linear)
    rows = torch.randn(1, 64, inputs).to(torch.bfloat16)
    with torch.inference_mode():
        together = packed(rows)
        alone = torch.cat([packed(rows[:, i : i + 1]) for i in range(rows.shape[1])], dim=1)
    assert torch.equal(alone, together)


@needs_packing
def test_the_cpu_decoding_copy_is_packed_and_answers_as_before(tiny_model_dir: Path) -> None:
    loaded = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="bf16-decode")
    packed_layers = [module for module in loaded.decode_model.modules() if isinstance(module, PackedLinear)]
    assert packed_layers and not any(isinstance(module, nn.Linear) for module in loaded.decode_model.modules())
    assert not any(isinstance(module, PackedLinear) for module in loaded.model.modules())  # fp32 reads prompts
    plain = load_model_and_tokenizer(str(tiny_model_dir), device="cpu", dtype="bf16-decode")  # then unpacked:
    plain.decode_model = plain.model.__class__.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).eval()
    use_row_exact_attention(plain.decode_model)
    chat = [{"role": "user", "content": "name three columns of a sales table"}]
    settings = GenerationSettings(max_new_tokens=24, temperature=0.0)
    assert LocalChatModel(loaded).generate(chat, settings).text == LocalChatModel(plain).generate(chat, settings).text


def test_packing_leaves_float32_layers_alone() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8).to(torch.bfloat16))
    if packing_helps(torch.device("cpu")):
        assert pack_linear_layers(model) == 1
        assert isinstance(model[0], nn.Linear) and isinstance(model[1], PackedLinear)
    assert not packing_helps(torch.device("meta"))
