"""Load a Hugging Face causal LM and its tokenizer from a model spec.

This is the one place that calls `from_pretrained`, so every entry point (magics, review
loop, fine-tuning, benchmarks) loads models the same way and fails with the same messages.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coassist.errors import ModelUnavailableOffline, UnknownModelSpec
from coassist.llm.device import Precision, resolve_device, resolve_precision
from coassist.llm.embedded import embedded_model_dir
from coassist.llm.packed import pack_linear_layers, packing_helps
from coassist.llm.quantize import quantize_linear_layers
from coassist.llm.spec import ACCEPTED_SPECS, ModelSpec, parse_model_spec


@dataclass
class LoadedModel:
    """A model ready to generate, with where it came from (for provenance).

    `model` reads prompts; `decode_model` decodes answers token by token. They are one object
    unless the precision keeps a second copy of the weights for decoding (`Precision.decode`).
    """

    model: Any
    tokenizer: Any
    spec: ModelSpec
    directory: str
    adapter: str | None
    device: torch.device
    precision: Precision
    decode_model: Any


def load_model_and_tokenizer(
    spec: str | ModelSpec, device: str = "auto", dtype: str = "auto", merge_adapter: bool = True
) -> LoadedModel:
    """Load the model a spec names onto a device.

    Parameters
    ----------
    spec:
        A model spec (see `coassist.llm.spec`); OpenAI endpoints are not loadable here.
    device, dtype:
        ``"auto"`` picks CUDA+bf16 when a GPU is visible, else the CPU with
        `coassist.llm.device.cpu_auto_dtype()`. ``"int8"`` (CPU only) loads fp32 and then
        stores every linear layer's weight as int8 (`coassist.llm.quantize`);
        ``"bf16-decode"`` loads fp32 and adds a bf16 copy that decodes.
    merge_adapter:
        Fold a PEFT adapter into the base weights (faster inference). Fine-tuning passes
        False to keep training the adapter itself; then no decoding copy is made, since the
        weights it would copy are about to change.

    Raises
    ------
    UnknownModelSpec, ModelPackageMissing, ModelUnavailableOffline, InvalidSetting
    """
    from transformers import AutoModelForCausalLM

    from coassist.llm.decoding import use_row_exact_attention

    parsed = spec if isinstance(spec, ModelSpec) else parse_model_spec(spec)
    if parsed.kind == "openai":
        raise UnknownModelSpec(parsed.text, "an HTTP endpoint has no local weights to load", ACCEPTED_SPECS)
    torch_device = resolve_device(device)
    precision = resolve_precision(dtype, torch_device)

    adapter = parsed.location if parsed.kind == "peft" else None
    with quiet_progress_bars():
        # Also around the directory: the embedded model's first use dequantises its GGUF here.
        directory = _local_directory(adapter_base_spec(Path(adapter)) if adapter is not None else parsed)
        tokenizer = _load_tokenizer(adapter or directory, fallback=directory)
        model: Any = AutoModelForCausalLM.from_pretrained(directory, dtype=precision.weights, local_files_only=True)
        if adapter is not None:
            from peft import PeftModel

            with quiet_peft_notices():
                model = PeftModel.from_pretrained(model, adapter, is_trainable=not merge_adapter)
            if merge_adapter:
                model = model.merge_and_unload()
    model.to(torch_device)
    model.eval()
    if precision.quantization is not None:
        quantize_linear_layers(model)
    decode_model = model
    if precision.decode is not None and merge_adapter:
        decode_model = decoding_copy(model, precision.decode)
    if merge_adapter:  # not for training: it would change how the weights being trained attend
        use_row_exact_attention(decode_model)
        if decode_model.dtype == torch.bfloat16 and packing_helps(torch_device):
            pack_linear_layers(decode_model)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, parsed, directory, adapter, torch_device, precision, decode_model)


def decoding_copy(model: Any, dtype: torch.dtype) -> Any:
    """A copy of `model` whose parameters are in `dtype`, to decode beside the loaded weights.

    The copy is made from the model as loaded, so a merged adapter is in it too. Each
    parameter is converted straight into the copy (through deepcopy's memo), so the loaded
    weights are never duplicated in their own dtype: the peak is the two copies, and weights
    tied to each other (SmolLM2's embedding and output head) stay one tensor in the copy.
    Buffers keep their dtype: rotary frequencies stay fp32, as in a model loaded in `dtype`.
    """
    from torch import nn

    memo: dict[int, Any] = {
        id(parameter): nn.Parameter(parameter.detach().to(dtype), requires_grad=False)
        for parameter in model.parameters()
    }
    return copy.deepcopy(model, memo)


def adapter_base_spec(adapter_dir: Path) -> ModelSpec:
    """The base model an adapter was trained on, itself read as a model spec.

    coassist writes the base's *spec* (e.g. ``smollm2``) into adapter_config.json, so an
    adapter keeps working when the cache directory of the base moves.
    """
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise UnknownModelSpec(
            str(adapter_dir), "adapter_config.json names no base_model_name_or_path", ACCEPTED_SPECS
        )
    parsed = parse_model_spec(base)
    if parsed.kind in {"peft", "openai"}:
        raise UnknownModelSpec(str(adapter_dir), f"its base {base!r} is not a loadable base model", ACCEPTED_SPECS)
    return parsed


def _local_directory(spec: ModelSpec) -> str:
    """A directory with config + weights for an embedded, local or hub-cached model."""
    if spec.kind == "embedded":
        return str(embedded_model_dir())
    if Path(spec.location).is_dir():
        return spec.location
    return _hub_snapshot(spec.location)


def _hub_snapshot(hub_id: str) -> str:
    """The local snapshot of a hub id. Downloads only when the user has allowed the network.

    Hub downloads are opt-in (``HF_HUB_OFFLINE=0``): coassist is meant to keep data and
    models local, and a notebook that silently pulls gigabytes surprises people.
    """
    from huggingface_hub import snapshot_download

    allow_download = os.environ.get("HF_HUB_OFFLINE", "1").lower() in {"0", "false", "no"}
    try:
        return snapshot_download(hub_id, local_files_only=not allow_download)
    except Exception as error:  # huggingface_hub raises several types for "not here"
        raise ModelUnavailableOffline(
            f"the model {hub_id!r} is not in the local Hugging Face cache and coassist does not "
            f"download models unless allowed. Either download it where there is internet "
            f"(`hf download {hub_id}`) and copy the cache here, pass a local model directory, "
            f"or set HF_HUB_OFFLINE=0 to let coassist download it. ({type(error).__name__})"
        ) from error


def _load_tokenizer(primary: str, fallback: str) -> Any:
    """Prefer the adapter's tokenizer (fine-tuning may add a chat template), else the base's."""
    from transformers import AutoTokenizer

    source = primary if (Path(primary) / "tokenizer_config.json").is_file() else fallback
    return AutoTokenizer.from_pretrained(source, local_files_only=True)


@contextmanager
def quiet_peft_notices() -> Iterator[None]:
    """Hide two notices peft gives about itself that nobody using coassist can act on: a
    transformers deprecation it triggers on every adapter it wraps (``is_gradient_checkpointing``,
    peft 0.21 with transformers 5), and, on saving, that the embedded model ships no config file
    it could compare vocabularies with (coassist never changes the vocabulary). Every other
    warning passes."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        warnings.filterwarnings("ignore", message=r"Could not find a config file in ")
        yield


@contextmanager
def only_transformers_errors() -> Iterator[None]:
    """transformers' own log at ERROR level for a while: loading an encoder under a new
    classification head (the router, which coassist then trains) logs a report of the head's
    fresh weights that is expected, and says nothing a user can act on."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Hide the transformers and huggingface_hub progress bars while a model loads.

    In a notebook they are ipywidgets that stay under the answer and are saved with the
    notebook; the magics say "loading the model" in the answer's place instead. Each library's
    own setting is restored afterwards, so a user who wants the bars elsewhere keeps them.
    """
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as hf_logging

    transformers_enabled = hf_logging.is_progress_bar_enabled()
    hub_disabled = hub_utils.are_progress_bars_disabled()
    hf_logging.disable_progress_bar()  # turns the huggingface_hub bars off too
    try:
        yield
    finally:
        if transformers_enabled:
            hf_logging.enable_progress_bar()
        if hub_disabled:
            hub_utils.disable_progress_bars()  # enable_progress_bar above turns them on as well
        else:
            hub_utils.enable_progress_bars()
