"""Inference figures for the embedded model, measured side by side in one run.

    python benchmarks/inference.py [--device auto] [--new-tokens 128] [--repeats 3]

Prints one table: cold load (dequantise the GGUF) vs cached load; time to first token through
`%%assist`; decode tokens/s of raw `model.generate` vs the magic's path on the same prompt
(goal: ratio >= 0.97); fp32 vs bf16. Timings are medians over interleaved repeats, so
machine noise hits both sides of each ratio alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PROMPT = "Write a detailed, step-by-step tutorial on cleaning a pandas DataFrame with missing values."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    from coassist.llm import embedded
    from coassist.llm.loading import load_model_and_tokenizer

    rows: list[tuple[str, str, str]] = []

    with tempfile.TemporaryDirectory() as cold_root:
        started = time.perf_counter()
        embedded.embedded_model_dir(Path(cold_root))
        cold = time.perf_counter() - started
        os.environ["COASSIST_CACHE"] = cold_root
        started = time.perf_counter()
        loaded = load_model_and_tokenizer("smollm2", device=args.device)
        cached = time.perf_counter() - started
        del loaded
        os.environ.pop("COASSIST_CACHE")
        rows.append(("load: GGUF dequantise (cold, first use)", f"{cold:.2f} s", ""))
        rows.append(("load: from the safetensors cache", f"{cached:.2f} s", f"{cold / cached:.1f}x faster"))

    loaded = load_model_and_tokenizer("smollm2", device=args.device)
    shell = _shell(args.device, args.new_tokens)
    _raw_tokens_per_second(loaded, 8)  # warm-up: first-call allocations hit neither side
    raw_rates, magic_rates, first_tokens = [], [], []
    for _ in range(args.repeats):
        raw_rates.append(_raw_tokens_per_second(loaded, args.new_tokens))
        rate, first = _magic_tokens_per_second(shell)
        magic_rates.append(rate)
        first_tokens.append(first)
    raw, magic = statistics.median(raw_rates), statistics.median(magic_rates)
    rows.append(("time to first token (%%assist)", f"{statistics.median(first_tokens) * 1000:.0f} ms", ""))
    rows.append((f"decode: raw model.generate ({loaded.device}, {_dtype_name(loaded.dtype)})", f"{raw:.1f} tok/s", ""))
    rows.append(("decode: %%assist path (streaming display)", f"{magic:.1f} tok/s", f"{magic / raw:.3f} of raw (goal >= 0.97)"))

    dtype_rates: dict[str, float] = {}
    for dtype in ("float32", "bfloat16"):
        candidate = load_model_and_tokenizer("smollm2", device=args.device, dtype=dtype)
        dtype_rates[dtype] = statistics.median(
            _raw_tokens_per_second(candidate, args.new_tokens) for _ in range(args.repeats)
        )
    rows.append((f"decode: fp32 ({loaded.device})", f"{dtype_rates['float32']:.1f} tok/s", ""))
    rows.append(
        (
            f"decode: bf16 ({loaded.device})",
            f"{dtype_rates['bfloat16']:.1f} tok/s",
            f"{dtype_rates['bfloat16'] / dtype_rates['float32']:.2f}x fp32",
        )
    )
    _print_table(rows, torch)


def _raw_tokens_per_second(loaded, new_tokens: int) -> float:
    import torch

    inputs = loaded.tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    ).to(loaded.device)
    _sync(loaded.device)
    started = time.perf_counter()
    with torch.inference_mode():
        output = loaded.model.generate(
            **inputs, max_new_tokens=new_tokens, do_sample=False, pad_token_id=loaded.tokenizer.pad_token_id
        )
    _sync(loaded.device)
    generated = output.shape[1] - inputs["input_ids"].shape[1]
    return generated / (time.perf_counter() - started)


def _magic_tokens_per_second(shell) -> tuple[float, float]:
    """Tokens/s and time to first token of one `%%assist` cell, counted by the streamer itself."""
    from IPython.utils.capture import capture_output

    from coassist.llm import local
    from coassist.notebook import streaming

    first: list[float] = []
    counted: list[int] = []
    original_append, original_end = streaming.StreamingDisplay.append, local._IncrementalDecoder.end

    def timed_append(self, piece: str) -> None:
        if not first:
            first.append(time.perf_counter())
        original_append(self, piece)

    def counting_end(self) -> None:
        counted.append(len(self.token_ids))
        original_end(self)

    streaming.StreamingDisplay.append = timed_append
    local._IncrementalDecoder.end = counting_end
    try:
        started = time.perf_counter()
        with capture_output():
            shell.run_cell_magic("assist", "--no-history", PROMPT)
        elapsed = time.perf_counter() - started
    finally:
        streaming.StreamingDisplay.append = original_append
        local._IncrementalDecoder.end = original_end
    return counted[0] / elapsed, first[0] - started


def _shell(device: str, new_tokens: int):
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "coassist")
    shell.run_line_magic("config", f'Assist.device = "{device}"')
    shell.run_line_magic("config", f"Assist.max_new_tokens = {new_tokens}")
    # The magic's system prompt differs from the raw run's; use the raw one so both see one prompt.
    from coassist.notebook.session import get_session

    get_session(shell).conversation.system_prompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    return shell


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _print_table(rows: list[tuple[str, str, str]], torch) -> None:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(f"coassist inference benchmark: SmolLM2-135M-Instruct on {device}, torch {torch.__version__}\n")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    header = ("measure", "value", "ratio")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    line = " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line)
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
