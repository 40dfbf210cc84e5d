"""Copy a trained adapter into the package as coassist's default (`make adapter` runs this last).

Only what loading needs travels: the adapter's config, its weights stored as float16 (LoRA's
small matrices lose nothing a 135M model's answers show, and the wheel carries half the bytes),
and the training summary the model card cites. The tokenizer is the base's, so it is left out.

Usage: python scripts/ship_adapter.py TRAINED_ADAPTER_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from coassist.llm.spec import SHIPPED_ADAPTER_DIR
from coassist.train.lora import SUMMARY_FILE


def ship(trained: Path, destination: Path = SHIPPED_ADAPTER_DIR) -> None:
    config = json.loads((trained / "adapter_config.json").read_text())
    if config.get("base_model_name_or_path") != "smollm2":
        raise SystemExit(f"{trained} adapts {config.get('base_model_name_or_path')!r}; the shipped adapter must adapt smollm2")
    weights = {name: tensor.to(torch.float16) for name, tensor in load_file(trained / "adapter_model.safetensors").items()}
    staging = destination.with_name(destination.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    shutil.copy2(trained / "adapter_config.json", staging / "adapter_config.json")
    shutil.copy2(trained / SUMMARY_FILE, staging / SUMMARY_FILE)
    save_file(weights, staging / "adapter_model.safetensors", metadata={"format": "pt"})
    shutil.rmtree(destination, ignore_errors=True)
    staging.rename(destination)
    size = sum(path.stat().st_size for path in destination.iterdir()) / 1e6
    print(f"shipped {trained} as {destination} ({size:.1f} MB)")


if __name__ == "__main__":
    if len(sys.argv) != 2 or not (Path(sys.argv[1]) / "adapter_config.json").is_file():
        raise SystemExit("usage: python scripts/ship_adapter.py TRAINED_ADAPTER_DIR (a directory with adapter_config.json)")
    ship(Path(sys.argv[1]))
