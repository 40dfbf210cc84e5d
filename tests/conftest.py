"""Shared fixtures: tiny models built in code, and an offline guard for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_causal_lm

# Tests must pass with no network: never let transformers or huggingface_hub try a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama directory with a ChatML tokenizer (context 256 tokens)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model's cache root: `$COASSIST_CACHE` when set, else a session temp dir.

    CI sets COASSIST_CACHE so the 20-second dequantisation happens once per run.
    """
    root = os.environ.get("COASSIST_CACHE")
    return Path(root) if root else tmp_path_factory.mktemp("coassist-cache")
