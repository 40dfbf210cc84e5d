"""Pick the device and dtype: CUDA with bf16 when there is a GPU, else `cpu_auto_dtype()` on the CPU."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import torch

from coassist.errors import DeviceUnavailable, InvalidSetting
from coassist.llm.quantize import Quantization

# What dtype "auto" means on the CPU: the one place to change it (docs/inference.md measures
# both). Where the CPU multiplies bf16 in hardware (`cpu_has_bf16_units`), bf16 weights read a
# prompt 2.4x faster than fp32, decode as fast or faster, in half the memory, and pass and fail
# the notebook tasks exactly as fp32 does. Elsewhere (AVX2) bf16 arithmetic is emulated: bf16
# weights decode 1.4-2x faster (a step reads half the bytes) but read a prompt about 6x slower,
# so fp32 weights read the prompt and a bf16 copy decodes.
CPU_AUTO_DTYPE: Final = "bf16-decode"
CPU_BF16_UNITS_AUTO_DTYPE: Final = "bfloat16"


def cpu_has_bf16_units() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX) and oneDNN may use it
    (`ONEDNN_MAX_CPU_ISA=AVX2` makes such a CPU an AVX2 one). AVX-512 without BF16 counts as
    none: oneDNN converts there, and nothing was measured on it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and (
        torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    )


def cpu_auto_dtype() -> str:
    """What `auto` means on this CPU (see the constants above)."""
    return CPU_BF16_UNITS_AUTO_DTYPE if cpu_has_bf16_units() else CPU_AUTO_DTYPE


@dataclass(frozen=True)
class Precision:
    """What a dtype setting means for a model's weights.

    `weights` is the dtype the model loads in; it reads prompts. `decode` names a second copy
    of the weights, made from the loaded ones (adapter merged), that decodes the answer token
    by token; None when the loaded weights do both. `quantization` replaces the loaded linear
    layers after loading (`coassist.llm.quantize`).
    """

    name: str
    weights: torch.dtype
    decode: torch.dtype | None = None
    quantization: Quantization | None = None


_FLOAT32 = Precision("float32", torch.float32)
_BFLOAT16 = Precision("bfloat16", torch.bfloat16)
_FLOAT16 = Precision("float16", torch.float16)
_PRECISIONS: dict[str, Precision] = {
    "float32": _FLOAT32,
    "fp32": _FLOAT32,
    "bfloat16": _BFLOAT16,
    "bf16": _BFLOAT16,
    "float16": _FLOAT16,
    "fp16": _FLOAT16,
    # Quantised linear layers on the CPU, loaded as fp32 first (coassist.llm.quantize).
    "int8": Precision("int8", torch.float32, quantization="int8"),
    "bf16-decode": Precision("bf16-decode", torch.float32, decode=torch.bfloat16),
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


def resolve_precision(dtype: str, device: torch.device) -> Precision:
    """What a dtype setting means on `device`: `auto` is bf16 on CUDA (half the memory, tensor
    cores) and `cpu_auto_dtype()` on the CPU; ``int8`` loads fp32, then quantises;
    ``bf16-decode`` loads fp32 and decodes with a bf16 copy.

    Raises
    ------
    InvalidSetting
        For a name that is not ``auto`` or one of the dtypes listed in the message, and for
        ``int8`` on anything but the CPU.

    >>> resolve_precision("auto", torch.device("cpu")).name in ("bfloat16", "bf16-decode")
    True
    """
    name = dtype.strip().lower() if isinstance(dtype, str) else dtype
    if name == "auto":
        name = "bfloat16" if device.type == "cuda" else cpu_auto_dtype()
    if not isinstance(name, str) or name not in _PRECISIONS:
        accepted = ", ".join(["auto", *_PRECISIONS])
        raise InvalidSetting(
            "dtype", f"unknown dtype {dtype!r}; use one of: {accepted} (in a notebook: %config Assist.dtype = 'auto')"
        )
    precision = _PRECISIONS[name]
    if precision.quantization is not None and device.type != "cpu":
        raise InvalidSetting(
            "dtype",
            f"{dtype!r} (int8 quantised layers) runs on the CPU only, and the device is {device.type!r}; "
            f"use 'bfloat16' or 'auto' on a GPU, or set the device to 'cpu' "
            f"(in a notebook: %config Assist.dtype = 'auto')",
        )
    return precision


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The dtype the weights load in (`Precision.weights`): what reads the prompt.

    >>> resolve_dtype("auto", torch.device("cuda"))
    torch.bfloat16
    """
    return resolve_precision(dtype, device).weights


def training_dtype(device: torch.device) -> str:
    """The dtype fine-tuning loads a base in: float weights whatever `auto` means for inference.

    Gradients flow through the base's weights, and int8 weights have none; bf16 on CUDA as
    `auto` gives, fp32 on the CPU.

    >>> training_dtype(torch.device("cpu"))
    'float32'
    """
    return "bfloat16" if device.type == "cuda" else "float32"
