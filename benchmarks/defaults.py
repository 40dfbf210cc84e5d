"""Measure candidate notebook defaults side by side with the evaluation harness.

    python benchmarks/defaults.py [--variants defaults,penalty-1.2] [--sets notebook,humaneval]
                                  [--limit N] [--device auto] [--dtype auto] [--jobs 4]
                                  [--json results.json] [--markdown]

Each variant is a set of `Assist` settings (prompting and decoding); every variant answers the
same tasks with the same model, so the rows of the table differ only by the setting. Tasks are
split over `--jobs` processes (on a GPU they share the card; on a CPU give each a core), and
each process appends its results as it goes, so an interrupted run still reports what finished.
The "before → after" tables in docs/evaluation.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

EARLIER_SYSTEM_PROMPT = (
    "You are coassist, a concise assistant for data scientists working in Jupyter notebooks. "
    "Answer in Markdown. Put code in ```python fenced blocks."
)

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "penalty-1.0": {"repetition_penalty": 1.0},
    "penalty-1.1": {"repetition_penalty": 1.1},
    "penalty-1.2": {"repetition_penalty": 1.2},
    "earlier-system": {"system_prompt": EARLIER_SYSTEM_PROMPT},
    "earlier-system-penalty-1.0": {"system_prompt": EARLIER_SYSTEM_PROMPT, "repetition_penalty": 1.0},
    "tokens-384": {"max_new_tokens": 384},
}
"""Name → `Assist` settings that differ from the current defaults."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="defaults,penalty-1.0,earlier-system")
    parser.add_argument("--variant-json", default=None, help="extra variants as a JSON object: name -> Assist settings")
    parser.add_argument("--sets", default="notebook,humaneval")
    parser.add_argument("--limit", type=int, default=None, help="first N tasks of each category")
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--jobs", type=int, default=1, help="processes per variant")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (CPU)")
    parser.add_argument("--json", default=None, help="write every task result here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()

    variants = dict(VARIANTS)
    if args.variant_json:
        variants.update(json.loads(args.variant_json))
    names = [name.strip() for name in args.variants.split(",") if name.strip()]
    unknown = [name for name in names if name not in variants]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from {', '.join(variants)}")

    from coassist.eval.report import EvalReport
    from coassist.eval.runner import TaskResult

    with tempfile.TemporaryDirectory() as scratch:
        jobs = [
            (name, variants[name], shard, args, Path(scratch) / f"{name}-{shard}.jsonl")
            for name in names
            for shard in range(args.jobs)
        ]
        context = multiprocessing.get_context("spawn")  # CUDA and torch threads need fresh processes
        with context.Pool(len(jobs)) as pool:
            try:
                pool.starmap(_run_shard, jobs)
            except KeyboardInterrupt:
                pool.terminate()
                print("interrupted: reporting the tasks that finished", file=sys.stderr)
        rows = [json.loads(line) for *_, path in jobs if path.exists() for line in path.read_text().splitlines()]
    order = {name: i for i, name in enumerate(names)}
    rows.sort(key=lambda row: order[row["model"].rsplit("[", 1)[1].rstrip("]")])
    report = EvalReport([TaskResult(**row) for row in rows])
    print(report.markdown() if args.markdown else report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=1))


def _run_shard(name: str, settings: dict[str, Any], shard: int, args: argparse.Namespace, out: Path) -> None:
    """Answer every `args.jobs`-th task (from `shard`) with variant `name`; append results to `out`."""
    import dataclasses

    import torch

    from coassist.config import Assist
    from coassist.eval import load_tasks, product_defaults
    from coassist.eval.runner import run_task
    from coassist.llm import load_chat_model

    torch.set_num_threads(args.threads)
    assist = Assist(**settings)
    tasks = load_tasks([s.strip() for s in args.sets.split(",")], args.limit, assist=assist)[shard :: args.jobs]
    model = load_chat_model(args.model, args.device, args.dtype)
    defaults = product_defaults(assist)
    with out.open("a") as sink:
        for task in tasks:
            result = dataclasses.replace(run_task(model, task, defaults), model=f"{args.model} [{name}]")
            sink.write(json.dumps(result.as_dict()) + "\n")
            sink.flush()


if __name__ == "__main__":
    main()
