"""Training checkpoints: the adapter (PEFT format), optimizer, step and RNG, resumable exactly.

A checkpoint directory is itself a loadable adapter (`adapter_config.json` +
`adapter_model.safetensors`), plus `trainer_state.pt` with what the loop needs to continue as
if it had never stopped. Directories are written under a temporary name and renamed, so a
crash while saving never leaves a half-written checkpoint that `latest_checkpoint` would pick.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from coassist.atomic_dir import atomic_directory
from coassist.llm.loading import quiet_peft_notices

STATE_FILE = "trainer_state.pt"
_CHECKPOINT_NAME = re.compile(r"step-(\d+)")


@dataclass
class TrainerState:
    """What a resumed run restores besides the adapter weights."""

    step: int
    """Optimizer steps completed."""
    torch_rng: torch.Tensor
    """CPU RNG state at the start of step `step` (dropout draws from it)."""
    cuda_rng: list[torch.Tensor]
    extra: dict[str, Any]
    """Anything else the loop keeps across a resume (e.g. the held-out loss before training)."""


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def save_checkpoint(
    output_dir: str | Path, model: Any, optimizer: torch.optim.Optimizer, state: TrainerState, keep: int
) -> Path:
    """Write `checkpoints/step-NNNNNN` and delete all but the newest `keep` checkpoints."""
    root = checkpoint_root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    target = root / f"step-{state.step:06d}"
    with atomic_directory(target) as staging, quiet_peft_notices():
        model.save_pretrained(staging)
        torch.save(
            {
                "step": state.step,
                "optimizer": optimizer.state_dict(),
                "torch_rng": state.torch_rng,
                "cuda_rng": state.cuda_rng,
                "extra": state.extra,
            },
            staging / STATE_FILE,
        )
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old)
    return target


def list_checkpoints(output_dir: str | Path) -> list[Path]:
    """Complete checkpoints, oldest first.

    Only ``step-<digits>`` directories holding a trainer state count: anything else someone put
    in the folder (``step-old/``, a copy, a file) is ignored rather than guessed at.
    """
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        name = _CHECKPOINT_NAME.fullmatch(path.name)
        if name and (path / STATE_FILE).is_file():
            found.append((int(name.group(1)), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def load_checkpoint(path: Path, model: Any, optimizer: torch.optim.Optimizer) -> TrainerState:
    """Put a checkpoint's adapter weights and optimizer state back; return the rest."""
    from peft.utils import load_peft_weights, set_peft_model_state_dict

    device = next(model.parameters()).device
    set_peft_model_state_dict(model, load_peft_weights(str(path), device=str(device)))
    saved = torch.load(path / STATE_FILE, map_location=device, weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    return TrainerState(saved["step"], saved["torch_rng"].cpu(), saved["cuda_rng"], saved["extra"])


def restore_rng(state: TrainerState) -> None:
    torch.set_rng_state(state.torch_rng)
    if state.cuda_rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([rng.cpu() for rng in state.cuda_rng])


def capture_rng() -> tuple[torch.Tensor, list[torch.Tensor]]:
    return torch.get_rng_state(), (torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [])
