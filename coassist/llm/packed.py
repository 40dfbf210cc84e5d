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
answers do not change and prompt lookup's drafts still verify to greedy's tokens.
"""

from __future__ import annotations

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

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(hidden, self.packed, self.bias, "none", [], "")

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


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
