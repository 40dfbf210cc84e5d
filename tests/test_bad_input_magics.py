"""Bad input to `%%assist`: its own options, settings, devices and placeholders.

Each must reach the notebook as an IPython `UsageError` (shown without a traceback) whose text
names what to fix, before anything is generated.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest
import torch
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from coassist.errors import (
    DeviceUnavailable,
    EndpointError,
    InvalidSetting,
    PromptTemplateError,
    UnknownModelSpec,
)
from coassist.notebook.session import AssistSession, get_session
from tests.scripted_model import ScriptedModel

ANSWER = "Divide by a non-zero number."


@pytest.fixture()
def scripted(shell, monkeypatch: pytest.MonkeyPatch) -> ScriptedModel:
    model = ScriptedModel(ANSWER)
    monkeypatch.setattr(AssistSession, "model", lambda self, spec=None: model)
    return model


def _provenance(captured) -> dict:
    """The provenance of the last answer displayed while capturing."""
    finals = [o.metadata["coassist"] for o in captured.outputs if o.metadata and "coassist" in o.metadata]
    return finals[-1]


def _fail_a_cell(shell) -> None:
    shell.run_cell("total = 10\ntotal / 0", store_history=True)


# --- the magic's own options ----------------------------------------------------------------

USAGE = "see %assist?\nusage: %%assist [-f {markdown,code,text}]"


@pytest.mark.parametrize(
    ("line", "words", "cause"),
    [
        ("--max-new-tokens 0", "--max-new-tokens: must be a whole number >= 1, got 0", InvalidSetting),
        ("--max-new-tokens -3", "--max-new-tokens: must be a whole number >= 1, got -3", InvalidSetting),
        ("--temperature -1", "--temperature: must be 0 (greedy) or a positive number such as 0.7, got -1.0", InvalidSetting),
        ("--temperature nan", "--temperature: must be 0 (greedy) or a positive number such as 0.7, got nan", InvalidSetting),
        ("--temperature inf", "--temperature: must be 0 (greedy) or a positive number such as 0.7, got inf", InvalidSetting),
        ("--show-prompt --max-new-tokens 0", "--max-new-tokens: must be a whole number >= 1, got 0", InvalidSetting),
        ("--max-new-tokens abc", f"argument --max-new-tokens: invalid int value: 'abc'; {USAGE}", None),
        ("--max-new-tokens 2.5", "argument --max-new-tokens: invalid int value: '2.5'; see %assist?", None),
        ("--temperature warm", "argument --temperature: invalid float value: 'warm'; see %assist?", None),
        ("--format yaml", "argument -f/--format: invalid choice: 'yaml'", None),
        ("--temperature", "argument --temperature: expected one argument; see %assist?", None),
        ("--no", "ambiguous option: --no could match --no-history, --no-interpolate", None),
        ("--foo", "unknown option --foo; see %assist?", None),
        ("--reset -x 3", "unknown option -x; see %assist?", None),
        ("-o 1x", "-o needs a Python variable name to store the answer in, got '1x'", None),
        ("-o class", "-o needs a Python variable name to store the answer in, got 'class'", None),
        ("-o In", "-o In would replace IPython's own In; choose another variable name", None),
        ("--sample-rows -1", "--sample-rows must be a whole number >= 0, got -1", None),
    ],
    ids=[
        "tokens-zero",
        "tokens-negative",
        "temperature-negative",
        "temperature-nan",
        "temperature-inf",
        "tokens-zero-show-prompt",
        "tokens-not-int",
        "tokens-float",
        "temperature-not-float",
        "format-unknown",
        "option-missing-value",
        "option-ambiguous",
        "option-unknown",
        "option-unknown-short",
        "output-not-identifier",
        "output-keyword",
        "output-ipython-history",
        "sample-rows-negative",
    ],
)
def test_bad_option_is_a_usage_error_before_anything_runs(
    shell, scripted: ScriptedModel, line: str, words: str, cause: type | None
) -> None:
    with pytest.raises(UsageError) as caught:
        shell.run_cell_magic("assist", line, "Why is {undefined_variable} slow?")
    assert words in str(caught.value)
    if cause is None:
        assert caught.value.__cause__ is None
    else:
        assert isinstance(caught.value.__cause__, cause)
    assert scripted.calls == [] and get_session(shell).conversation.exchanges == []


def test_unknown_option_message_is_exact(shell, scripted: ScriptedModel) -> None:
    with pytest.raises(UsageError) as caught:
        shell.run_line_magic("assist", "--verbose what is a join?")
    assert str(caught.value) == "unknown option --verbose; see %assist?"


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("error --bogus", "unknown option --bogus; see %assist?"),
        ("error --max-new-tokens 0", "--max-new-tokens: must be a whole number >= 1, got 0"),
        ("error --temperature -0.5", "--temperature: must be 0 (greedy) or a positive number such as 0.7, got -0.5"),
        ("error -o 2x", "-o needs a Python variable name"),
    ],
    ids=["unknown-option", "tokens-zero", "temperature-negative", "output-not-identifier"],
)
def test_bad_option_after_a_subcommand_is_a_usage_error(shell, scripted: ScriptedModel, line: str, words: str) -> None:
    _fail_a_cell(shell)
    with pytest.raises(UsageError, match=words.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)")):
        shell.run_line_magic("assist", line)
    assert scripted.calls == []


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("error --temperature 0", "temperature", 0.0),
        ("error --max-new-tokens 3", "max_new_tokens", 3),
        ("--temperature 0.5 error --temperature 0", "temperature", 0.0),
        ("--max-new-tokens 5 error", "max_new_tokens", 5),
        ("error why did it fail? --temperature 0", "temperature", 0.7),  # words after the question stay words
    ],
    ids=["zero-temperature-after", "tokens-after", "after-overrides-before", "before-kept", "question-then-words"],
)
def test_options_after_a_subcommand_count_even_when_falsy(
    shell, scripted: ScriptedModel, line: str, key: str, expected: float
) -> None:
    shell.run_line_magic("config", "Assist.temperature = 0.7")
    _fail_a_cell(shell)
    with capture_output() as captured:
        shell.run_line_magic("assist", line)
    assert _provenance(captured)["settings"][key] == expected


def test_output_and_format_after_a_subcommand(shell, scripted: ScriptedModel) -> None:
    _fail_a_cell(shell)
    with capture_output() as captured:
        shell.run_line_magic("assist", "error -o why -f text")
    assert shell.user_ns["why"] == ANSWER and _provenance(captured)["format"] == "text"
    assert "ZeroDivisionError" in scripted.calls[-1][-1]["content"]


# --- %assist? -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "help_words"),
    [
        ("-f <{markdown,code,text}>, --format <{markdown,code,text}>", "never run"),
        ("-m SPEC, --model SPEC", "model spec for this cell (see %assist models)"),
        ("--max-new-tokens N", "longest answer, in tokens"),
        ("--temperature T", "0 for greedy, reproducible answers"),
        ("-o VAR, --output VAR", "store the answer text in VAR"),
        ("--reset", "start a new conversation first"),
        ("--no-history", "ask without earlier exchanges"),
        ("--no-interpolate", "send {braces} literally"),
        ("--sample-rows N", "sample rows of interpolated DataFrames"),
        ("--show-prompt", "print exactly what the model would see"),
        ("question", "error [question] (explain the last exception)"),
    ],
    ids=["format", "model", "max-new-tokens", "temperature", "output", "reset", "no-history", "no-interpolate", "sample-rows", "show-prompt", "subcommands"],
)
def test_help_shows_every_option_with_its_help(shell, option: str, help_words: str) -> None:
    for name in ("%assist", "%coassist"):
        text = " ".join(shell.object_inspect_text(name).split())
        assert f"{option} " in text and help_words in text


# --- settings from %config ------------------------------------------------------------------

NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a visible GPU")


@pytest.mark.parametrize(
    ("config", "words", "cause"),
    [
        pytest.param(
            'Assist.device = "cuda"',
            "device: 'cuda' was requested but no CUDA GPU is visible; set it to 'auto' or 'cpu'",
            DeviceUnavailable,
            marks=NO_GPU,
        ),
        ('Assist.device = "cuda:99"', "device: 'cuda:99' was requested but", DeviceUnavailable),
        ('Assist.device = "gpu"', "device: 'gpu' is not a device coassist can use", InvalidSetting),
        ('Assist.dtype = "int3"', "dtype: unknown dtype 'int3'; use one of: auto", InvalidSetting),
    ],
    ids=["cuda-without-gpu", "cuda-index-missing", "unknown-device", "unknown-dtype"],
)
@pytest.mark.parametrize("line", ["", "--show-prompt"], ids=["ask", "show-prompt"])
def test_bad_device_or_dtype_config_is_a_usage_error(shell, config: str, words: str, cause: type, line: str) -> None:
    shell.run_line_magic("config", config)
    with pytest.raises(UsageError) as caught:
        shell.run_cell_magic("assist", line, "hello")
    assert words in str(caught.value) and isinstance(caught.value.__cause__, cause)


# --- placeholders and models ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("Plot {sales:>10}", "{sales:>10} applies a format spec to a DataFrame"),
        ("Call {sales.head()}", "{sales.head()} is not a placeholder coassist can fill"),
        ("Width {n:0>20000000}", "asks for a width or precision over 200"),
        ("Show {n!z}", "unknown conversion !z"),
    ],
    ids=["spec-on-dataframe", "call", "huge-width", "unknown-conversion"],
)
def test_bad_placeholder_is_a_usage_error(shell, scripted: ScriptedModel, cell: str, words: str) -> None:
    shell.user_ns.update(sales=pd.DataFrame({"region": ["n"]}), n=3)
    with pytest.raises(UsageError, match=words.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")) as caught:
        shell.run_cell_magic("assist", "", cell)
    assert isinstance(caught.value.__cause__, PromptTemplateError) and scripted.calls == []


@pytest.mark.parametrize(
    ("spec", "words", "cause"),
    [
        ("nonsense!", "unknown model spec 'nonsense!'", UnknownModelSpec),
        ("openai:http://bob:hunter2@host:99999/v1#m", "unknown model spec 'openai:http://***@host:99999/v1#m'", UnknownModelSpec),
    ],
    ids=["unknown-spec", "spec-with-password"],
)
def test_bad_model_option_is_a_usage_error(shell, spec: str, words: str, cause: type) -> None:
    with pytest.raises(UsageError) as caught:
        shell.run_cell_magic("assist", f"-m {spec}", "hello")
    assert words in str(caught.value) and isinstance(caught.value.__cause__, cause)
    assert "hunter2" not in str(caught.value)


@pytest.fixture()
def redirecting_endpoint() -> Iterator[str]:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:9/elsewhere/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_endpoint_redirect_is_a_usage_error(shell, redirecting_endpoint: str) -> None:
    with pytest.raises(UsageError) as caught:
        shell.run_cell_magic("assist", f"-m openai:{redirecting_endpoint}#m", "hello")
    assert isinstance(caught.value.__cause__, EndpointError)
    assert str(caught.value) == (
        f"the endpoint {redirecting_endpoint} redirected (HTTP 302) to "
        "http://127.0.0.1:9/elsewhere/v1/chat/completions; coassist does not follow redirects, so credentials "
        "never reach another server. Put the final URL in the spec: openai:http://127.0.0.1:9/elsewhere/v1#m"
    )


# --- what the notebook shows ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("%%assist --max-new-tokens 0\nq", "UsageError: --max-new-tokens: must be a whole number >= 1, got 0"),
        ("%%assist --temperature -1\nq", "UsageError: --temperature: must be 0 (greedy)"),
        ("%assist --foo q", "UsageError: unknown option --foo; see %assist?"),
        ("%%assist\nPlot {frame:>10}", "UsageError: the prompt's {frame:>10} applies a format spec to a DataFrame"),
    ],
    ids=["tokens-zero", "temperature-negative", "unknown-option", "bad-placeholder"],
)
def test_notebook_shows_the_message_without_a_traceback(shell, scripted: ScriptedModel, cell: str, shown: str) -> None:
    shell.user_ns["frame"] = pd.DataFrame({"a": [1]})
    with capture_output() as captured:
        result = shell.run_cell(cell)
    assert isinstance(result.error_in_exec, UsageError)
    assert shown in captured.stderr + captured.stdout
    assert "Traceback" not in captured.stderr + captured.stdout


def test_valid_falsy_options_on_a_cell_are_kept(shell, scripted: ScriptedModel) -> None:
    shell.run_line_magic("config", "Assist.temperature = 0.7")
    with capture_output() as captured:
        shell.run_cell_magic("assist", "--temperature 0 --sample-rows 0", "q")
    assert _provenance(captured)["settings"]["temperature"] == 0.0
