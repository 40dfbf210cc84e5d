"""int8 linear layers for CPU decoding: a quarter of fp32's weight bytes read per token.

Decoding one token reads every weight matrix once, so on a CPU its speed is set by the bytes
of weights read, not by arithmetic. Each `nn.Linear` becomes torch's dynamically quantised
linear layer: int8 weights with one scale per output channel, and the input quantised to
int8 on the fly, multiplied by FBGEMM's AVX2/AVX-512 kernels. Inputs and outputs stay fp32.

Measured alternatives (docs/inference.md): torch's weight-only kernels
(``aten._weight_int8pack_mm``, ``aten._weight_int4pack_mm_for_cpu``) with fp32 inputs ran a
layer about 10x slower than the fp32 matmul on an AVX2 CPU without AVX-512, and the whole
decode at 0.3x fp32; FBGEMM's int8 kernels are vectorised for AVX2 as well.

Only inference uses this: fine-tuning loads float weights (`coassist.llm.device.training_dtype`).
"""

from __future__ import annotations

import warnings
from typing import Any, Literal

import torch
from torch import nn

Quantization = Literal["int8"]


def quantize_linear_layers(model: Any) -> int:
    """Replace every `nn.Linear` of a float32 CPU model with an int8 one, in place; return how many.

    The output projection (``lm_head``) is replaced too, although SmolLM2 ties it to the
    input embeddings: it is the largest matrix (49k x 576), read in full for every token,
    while the embedding reads one row per token. The embedding keeps its fp32 weight, so
    untying costs the int8 copy (a quarter of that matrix) in memory.
    """
    linear_layers = sum(isinstance(module, nn.Linear) for module in model.modules())
    with warnings.catch_warnings():
        # torch marks its eager quantisation API for a move to torchao, which would be a
        # new dependency for the same FBGEMM kernel; the warnings say nothing a user can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    return linear_layers
