"""bf16 linear layers with weights packed once for oneDNN, for bf16 inference on a CPU with bf16
units: the `bfloat16` model, or `bf16-decode`'s decoding copy.

Decoding multiplies one token's activations by every weight matrix. torch's plain bf16
`F.linear` reorders each weight into oneDNN's blocked layout on every call; on a CPU with
bf16 units (AVX-512 BF16, AMX) that per-call work made bf16 decoding slower than fp32 (docs/inference.md:
31 ms of matmuls a token against fp32's 29). Reordering once, at load, leaves only the
multiplication: 1.45x faster than fp32 for SmolLM2's layers with one token, 2.3x for its
49k-row output head.

The packed product is bit for bit the plain bf16 `F.linear`'s, and each row's result is the
same however many rows are multiplied at once (both checked in `tests/test_llm_packed.py`), so
answers do not change and prompt lookup's drafts still verify to greedy's tokens. One row alone
is the exception on some CPUs: on an AMD EPYC with AVX-512 BF16, a lone row with 1,536 inputs
(SmolLM2's `down_proj`) sums in another order than two or more rows do, and about one output
in 5,000 rounds to another bf16 value, enough for prompt lookup's answer to part from greedy's.
Where `_lone_row_differs` finds that for a layer's shape, the layer multiplies a lone row as a
pair of copies (`pair_lone_rows`), which costs about 10 us a layer where it is needed.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from coassist.llm.device import cpu_has_bf16_units


def packing_helps(device: torch.device) -> bool:
    """Whether this machine multiplies packed bf16 weights natively: a CPU with bf16 units
    (`cpu_has_bf16_units`, where it was measured). Elsewhere bf16 keeps torch's plain matmul."""
    return device.type == "cpu" and cpu_has_bf16_units()


class PackedLinear(nn.Module):
    """An `nn.Linear` whose bf16 weight was reordered once for oneDNN (inference only)."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        weight = linear.weight.detach()
        self.register_buffer("packed", torch.ops.mkldnn._reorder_linear_weight(weight), persistent=False)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach(), persistent=False)
        self.pair_lone_rows = _lone_row_differs(self.in_features, self.out_features)
        """Multiply a lone row as two copies of it, so that it is summed as it would be beside
        other rows (module docstring)."""

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        if self.pair_lone_rows and hidden.shape[:-1].numel() == 1:
            return _packed_product(torch.cat([hidden, hidden], dim=-2), self.packed, self.bias)[..., :1, :]
        return _packed_product(hidden, self.packed, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


def _packed_product(hidden: torch.Tensor, packed: Any, bias: Any) -> torch.Tensor:
    """`hidden` times a weight packed by `torch.ops.mkldnn._reorder_linear_weight`, plus `bias` (a tensor or None)."""
    return torch.ops.mkldnn._linear_pointwise(hidden, packed, bias, "none", [], "")


@functools.cache
def _lone_row_differs(in_features: int, out_features: int) -> bool:
    """Whether this CPU multiplies a lone row by a packed weight of this shape other than it
    multiplies the same row beside others: 64 seeded rows, one at a time and all at once (once
    a shape, once a process)."""
    generator = torch.Generator().manual_seed(0)
    weight = (torch.randn(out_features, in_features, generator=generator) * 0.05).to(torch.bfloat16)
    rows = torch.randn(64, in_features, generator=generator).to(torch.bfloat16)
    packed = torch.ops.mkldnn._reorder_linear_weight(weight)
    with torch.inference_mode():
        together = _packed_product(rows, packed, None)
        return any(not torch.equal(_packed_product(rows[i : i + 1], packed, None), together[i : i + 1]) for i in range(len(rows)))


def pack_linear_layers(model: Any) -> int:
    """Replace every bf16 `nn.Linear` of a CPU model with a `PackedLinear`, in place; return how many.

    The output head is packed too although SmolLM2 ties it to the embedding: the embedding keeps
    the bf16 weight (it reads one row a token) and the head gets its packed copy.
    """
    targets = [
        (parent, name, child)
        for parent in model.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear) and child.weight.dtype == torch.bfloat16
    ]
    for parent, name, child in targets:
        setattr(parent, name, PackedLinear(child))
    return len(targets)
