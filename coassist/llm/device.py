"""Pick the device and dtype: CUDA with bf16 when there is a GPU, else CPU float32."""

from __future__ import annotations

import torch

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` is the first CUDA device when one is visible, else the CPU.

    >>> resolve_device("cpu").type
    'cpu'
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but no CUDA GPU is visible; use 'auto' or 'cpu'")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` is bf16 on CUDA (half the memory, tensor cores) and fp32 on CPU.

    CPU fp32 is the default because bf16 matmuls are slower than fp32 on most CPUs without
    AMX (benchmarks/inference.py measures both).

    >>> resolve_dtype("auto", torch.device("cpu"))
    torch.float32
    """
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return _DTYPES[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of: auto, {', '.join(_DTYPES)}") from None
