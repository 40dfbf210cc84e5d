"""Pick the device and dtype: CUDA with bf16 when there is a GPU, else `CPU_AUTO_DTYPE` on the CPU."""

from __future__ import annotations

import re
from typing import Final

import torch

from coassist.errors import DeviceUnavailable, InvalidSetting
from coassist.llm.quantize import Quantization

# What dtype "auto" means on the CPU: the one place to change it. "int8" decodes faster
# (docs/inference.md measures it); it becomes the default once its answers are evaluated.
CPU_AUTO_DTYPE: Final = "float32"

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
# Quantised linear layers on the CPU, loaded as fp32 first (coassist.llm.quantize).
_QUANTIZED: dict[str, Quantization] = {"int8": "int8"}

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
    """The dtype weights load in and activations compute in: `auto` is bf16 on CUDA (half the
    memory, tensor cores) and `CPU_AUTO_DTYPE` on the CPU; ``int8`` loads fp32, then quantises.

    Raises
    ------
    InvalidSetting
        For a name that is not ``auto`` or one of the dtypes listed in the message, and for
        ``int8`` on anything but the CPU.

    >>> resolve_dtype("auto", torch.device("cpu"))
    torch.float32
    """
    name = _dtype_name(dtype, device)
    return torch.float32 if name in _QUANTIZED else _DTYPES[name]


def resolve_quantization(dtype: str, device: torch.device) -> Quantization | None:
    """The quantisation a dtype setting asks for (``int8``), or None for float weights.

    >>> resolve_quantization("int8", torch.device("cpu"))
    'int8'
    """
    name = _dtype_name(dtype, device)
    return _QUANTIZED[name] if name in _QUANTIZED else None


def training_dtype(device: torch.device) -> str:
    """The dtype fine-tuning loads a base in: float weights whatever `CPU_AUTO_DTYPE` says.

    Gradients flow through the base's weights, and int8 weights have none; bf16 on CUDA as
    `auto` gives, fp32 on the CPU.

    >>> training_dtype(torch.device("cpu"))
    'float32'
    """
    return "bfloat16" if device.type == "cuda" else "float32"


def _dtype_name(dtype: str, device: torch.device) -> str:
    """The canonical name a dtype setting means on `device`, with ``auto`` resolved."""
    name = dtype.strip().lower() if isinstance(dtype, str) else dtype
    if name == "auto":
        return "bfloat16" if device.type == "cuda" else CPU_AUTO_DTYPE
    if not isinstance(name, str) or name not in {*_DTYPES, *_QUANTIZED}:
        accepted = ", ".join(["auto", *_DTYPES, *_QUANTIZED])
        raise InvalidSetting(
            "dtype", f"unknown dtype {dtype!r}; use one of: {accepted} (in a notebook: %config Assist.dtype = 'auto')"
        )
    if name in _QUANTIZED and device.type != "cpu":
        raise InvalidSetting(
            "dtype",
            f"{dtype!r} (int8 quantised layers) runs on the CPU only, and the device is {device.type!r}; "
            f"use 'bfloat16' or 'auto' on a GPU, or set the device to 'cpu' "
            f"(in a notebook: %config Assist.dtype = 'auto')",
        )
    return name
