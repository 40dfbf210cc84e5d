"""Pick the device and dtype: CUDA with bf16 when there is a GPU, else CPU float32."""

from __future__ import annotations

import re

import torch

from coassist.errors import DeviceUnavailable, InvalidSetting

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}

# A closed set: torch accepts dozens of backends ("meta", "xla", ...) that would load a model
# nothing here can run, and "gpu" is a common guess that torch rejects with a long list.
_DEVICE = re.compile(r"^(?:auto|cpu|cuda(?::\d+)?)$")
_DEVICE_FIX = "set it to 'auto' or 'cpu' (in a notebook: %config Assist.device = 'auto')"


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` is the first CUDA device when one is visible, else the CPU.

    Raises
    ------
    InvalidSetting
        For anything but ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
    DeviceUnavailable
        For ``cuda``/``cuda:N`` when that GPU is not visible.

    >>> resolve_device("cpu").type
    'cpu'
    """
    name = device.strip().lower() if isinstance(device, str) else device
    if not isinstance(name, str) or not _DEVICE.match(name):
        raise InvalidSetting("device", f"{device!r} is not a device coassist can use; use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(name)
    if resolved.type == "cuda":
        visible = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if visible == 0:
            raise DeviceUnavailable("device", f"{device!r} was requested but no CUDA GPU is visible; {_DEVICE_FIX}")
        if resolved.index is not None and resolved.index >= visible:
            raise DeviceUnavailable(
                "device",
                f"{device!r} was requested but only {visible} CUDA GPU(s) are visible (cuda:0 to cuda:{visible - 1}); "
                f"use one of those or 'auto'",
            )
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """`auto` is bf16 on CUDA (half the memory, tensor cores) and fp32 on CPU.

    CPU fp32 is the default because bf16 matmuls are slower than fp32 on most CPUs without
    AMX (benchmarks/inference.py measures both).

    Raises
    ------
    InvalidSetting
        For a name that is not ``auto`` or one of the dtypes listed in the message.

    >>> resolve_dtype("auto", torch.device("cpu"))
    torch.float32
    """
    name = dtype.strip().lower() if isinstance(dtype, str) else dtype
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if not isinstance(name, str) or name not in _DTYPES:
        accepted = ", ".join(["auto", *_DTYPES])
        raise InvalidSetting(
            "dtype", f"unknown dtype {dtype!r}; use one of: {accepted} (in a notebook: %config Assist.dtype = 'auto')"
        )
    return _DTYPES[name]
