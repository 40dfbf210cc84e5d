"""Training: LoRA fine-tuning of the assistant, and the p_pass router, from reviewers' decisions.

>>> from coassist.train import LoraTrainingConfig, RouterTrainingConfig
>>> LoraTrainingConfig("sft.jsonl", "adapter", max_steps=50).base
'coassist'

Typical use::

    result = finetune_lora(LoraTrainingConfig("sft.jsonl", "adapter", max_steps=200))
    print(result.summary())                  # held-out loss before -> after
    load_chat_model("adapter")               # or %%assist -m adapter

    routed = train_router(RouterTrainingConfig("router.jsonl", "router"))
    print(routed.message)                    # accuracy, Brier, ECE; or why it fell back
    tasks = fill_p_pass(tasks, routed.router)
"""

from __future__ import annotations

from coassist.train.calibration import (
    CalibrationReport,
    ReliabilityBin,
    brier_score,
    calibration_report,
    expected_calibration_error,
    reliability_bins,
)
from coassist.train.lora import LoraResult, LoraTrainingConfig, StepRecord, evaluate_loss, finetune_lora
from coassist.train.router import Router, fill_p_pass
from coassist.train.router_data import RouterExample, read_router_labels
from coassist.train.router_training import RouterResult, RouterTrainingConfig, train_router
from coassist.train.sft_data import read_sft_jsonl, tokenize_example
from coassist.train.skill_prior import SkillPrior, fit_skill_prior

__all__ = [
    "CalibrationReport",
    "LoraResult",
    "LoraTrainingConfig",
    "ReliabilityBin",
    "Router",
    "RouterExample",
    "RouterResult",
    "RouterTrainingConfig",
    "SkillPrior",
    "StepRecord",
    "brier_score",
    "calibration_report",
    "evaluate_loss",
    "expected_calibration_error",
    "fill_p_pass",
    "finetune_lora",
    "read_sft_jsonl",
    "read_router_labels",
    "fit_skill_prior",
    "reliability_bins",
    "tokenize_example",
    "train_router",
]
