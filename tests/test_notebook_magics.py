"""The %%assist magics in a real IPython shell, on the tiny model or a scripted one."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from coassist.errors import PromptTemplateError, PromptTooLong
from coassist.llm import load_chat_model
from coassist.notebook import streaming
from coassist.notebook.session import AssistSession, get_session
from tests.scripted_model import ScriptedModel

CODE_ANSWER = "Here you go:\n```python\ndef mean(values):\n    return sum(values) / len(values)\n```\nDone."


@pytest.fixture()
def scripted(shell, monkeypatch: pytest.MonkeyPatch) -> ScriptedModel:
    model = ScriptedModel(CODE_ANSWER)
    monkeypatch.setattr(AssistSession, "model", lambda self, spec=None: model)
    return model


def _displays(captured) -> list[dict]:
    """Each display or in-place update published while capturing, as plain dicts."""
    return [
        {"data": o.data, "metadata": o.metadata or {}, "transient": o.transient or {}, "update": o.update}
        for o in captured.outputs
    ]


def test_show_prompt_prints_exactly_what_the_model_sees(shell, tiny_model_dir: Path, capsys) -> None:
    shell.user_ns["n_rows"] = 1234
    shell.run_cell_magic("assist", "--show-prompt", "How many rows: {n_rows}?")
    printed = capsys.readouterr().out
    model = load_chat_model(str(tiny_model_dir))
    expected = model.render_prompt(
        [
            {"role": "system", "content": get_session(shell).conversation.system_prompt},
            {"role": "user", "content": "How many rows: 1234?"},
        ]
    )
    assert printed == expected + "\n"
    assert get_session(shell).conversation.exchanges == []  # nothing was generated


def test_answer_is_stored_in_a_variable_and_a_cut_off_one_is_not_remembered(shell, tiny_model_dir: Path) -> None:
    with capture_output() as captured:
        shell.run_cell_magic("assist", "-o reply", "Say something.")
    model = load_chat_model(str(tiny_model_dir))
    session = get_session(shell)
    expected = model.generate(
        [{"role": "system", "content": session.conversation.system_prompt}, {"role": "user", "content": "Say something."}],
        session.settings(),
    )
    assert expected.finish == "length"  # random weights never end an answer within 8 tokens
    assert shell.user_ns["reply"] == expected.text
    final = _displays(captured)[-1]
    notice = "*(cut off at 8 tokens — `--max-new-tokens` to raise; not kept in the conversation)*"
    assert final["data"]["text/plain"].endswith(f"\n\n{notice}")
    assert final["metadata"]["coassist"]["not_kept"] == "cut off"
    assert session.conversation.exchanges == []


def test_a_whole_answer_is_remembered(shell, scripted) -> None:
    with capture_output():
        shell.run_cell_magic("assist", "", "Write mean().")
    exchanges = get_session(shell).conversation.exchanges
    assert [(e.question, e.answer, e.model) for e in exchanges] == [("Write mean().", CODE_ANSWER, "scripted")]


def test_answer_streams_in_place_then_renders_markdown_with_provenance(
    shell, scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(streaming, "DEFAULT_MIN_INTERVAL", 0.0)
    with capture_output() as captured:
        shell.run_cell_magic("assist", "--temperature 0", "Write mean().")
    outputs = _displays(captured)
    first, updates = outputs[0], [o for o in outputs if o["update"]]
    assert first["update"] is False and first["transient"]["display_id"]
    assert {u["transient"]["display_id"] for u in updates} == {first["transient"]["display_id"]}
    assert len(updates) >= 5  # one per streamed word (throttle off) plus the final render
    partials = [u["data"]["text/plain"] for u in updates[:-1]]
    assert all(p.endswith(" ▌") for p in partials) and len(set(partials)) == len(partials)
    final = updates[-1]
    # the answer's text as sent, and as HTML rendered from it: never as trusted text/markdown
    assert final["data"]["text/plain"] == CODE_ANSWER and "text/markdown" not in final["data"]
    assert final["data"]["text/html"].startswith("<p>") and "<pre><code" in final["data"]["text/html"]
    provenance = final["metadata"]["coassist"]
    assert provenance["model"] == "scripted" and provenance["format"] == "markdown"
    assert provenance["settings"] == {
        "max_new_tokens": 8,
        "temperature": 0.0,
        "top_p": 0.95,
        "repetition_penalty": 1.05,
    }
    assert provenance["finish"] == "stop" and provenance["not_kept"] is None


def test_code_format_puts_code_in_the_next_cell_without_running_it(
    shell, scripted, monkeypatch: pytest.MonkeyPatch
) -> None:
    next_inputs: list[tuple[str, bool]] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False: next_inputs.append((text, replace)))
    with capture_output():
        shell.run_cell_magic("assist", "-f code", "Write mean().")
    assert next_inputs == [("def mean(values):\n    return sum(values) / len(values)", False)]
    assert "mean" not in shell.user_ns  # generated code is never executed


def test_text_format_has_no_markdown(shell, scripted) -> None:
    with capture_output() as captured:
        shell.run_cell_magic("assist", "-f text", "Write mean().")
    final = _displays(captured)[-1]
    assert set(final["data"]) == {"text/plain"} and final["metadata"]["coassist"]["format"] == "text"


def test_conversation_continues_until_reset(shell, scripted) -> None:
    with capture_output():
        shell.run_cell_magic("assist", "", "first question")
        shell.run_cell_magic("assist", "", "second question")
        shell.run_cell_magic("assist", "--no-history", "third question")
        shell.run_cell_magic("assist", "--reset", "fourth question")
    contents = [[m["content"] for m in call[1:]] for call in scripted.calls]
    assert contents[1] == ["first question", CODE_ANSWER, "second question"]
    assert contents[2] == ["third question"]
    assert contents[3] == ["fourth question"]
    assert [e.question for e in get_session(shell).conversation.exchanges] == ["fourth question"]


def test_interrupt_keeps_the_partial_answer_and_the_kernel_usable(shell, monkeypatch: pytest.MonkeyPatch) -> None:
    interrupted = ScriptedModel("one two three four five six", interrupt_after=3)
    monkeypatch.setattr(AssistSession, "model", lambda self, spec=None: interrupted)
    with capture_output() as captured:
        shell.run_cell_magic("assist", "-o partial", "count")
    assert shell.user_ns["partial"] == "one two three"
    final = _displays(captured)[-1]
    assert final["data"]["text/plain"] == "one two three\n\n*(interrupted; not kept in the conversation)*"
    assert final["data"]["text/html"] == (
        "<p>one two three</p>\n<p><em>(interrupted; not kept in the conversation)</em></p>\n"
    )
    assert final["metadata"]["coassist"]["interrupted"] is True
    assert get_session(shell).conversation.exchanges == []
    interrupted.interrupt_after = None
    with capture_output():
        shell.run_cell_magic("assist", "-o again", "count")
    assert shell.user_ns["again"] == "one two three four five six"


def test_empty_cell_is_a_usage_error(shell) -> None:
    with pytest.raises(UsageError, match="the question is empty"):
        shell.run_cell_magic("assist", "", "   \n  ")


def test_missing_variable_is_named(shell) -> None:
    with pytest.raises(UsageError, match="no variable 'undefined_frame'") as caught:
        shell.run_cell_magic("assist", "", "Summarise {undefined_frame}")
    assert isinstance(caught.value.__cause__, PromptTemplateError)


def test_no_interpolate_sends_braces_literally(shell, capsys) -> None:
    shell.run_cell_magic("assist", "--show-prompt --no-interpolate", "What does {undefined} do?")
    assert "What does {undefined} do?" in capsys.readouterr().out


def test_dict_literal_from_a_cell_is_not_formatted_again(shell, capsys) -> None:
    shell.run_cell("params = {'alpha': {'beta': 1}, 'gamma': '{delta}'}", store_history=True)
    number = shell.execution_count - 1
    shell.run_cell_magic("assist", "--show-prompt", f"Explain {{In[{number}]}}")
    printed = capsys.readouterr().out
    assert "```python\nparams = {'alpha': {'beta': 1}, 'gamma': '{delta}'}\n```" in printed
    assert f"Question: Explain `In[{number}]`" in printed


def test_prompt_over_the_context_is_a_clear_error(shell) -> None:
    shell.user_ns["huge"] = "def add(a, b): return a + b\n" * 100
    shell.run_line_magic("config", "Assist.context_budget_tokens = 4096")
    with pytest.raises(UsageError, match="the model's context holds 256 tokens") as caught:
        shell.run_cell_magic("assist", "", "Review {huge}")
    assert isinstance(caught.value.__cause__, PromptTooLong)


def test_config_sets_defaults_and_options_override(shell, scripted) -> None:
    shell.run_line_magic("config", "Assist.max_new_tokens = 77")
    shell.run_line_magic("config", "Assist.default_format = 'text'")
    with capture_output() as captured:
        shell.run_cell_magic("assist", "", "q")
        shell.run_cell_magic("assist", "--max-new-tokens 5 -f markdown", "q")
    finals = [o for o in _displays(captured) if o["update"] and "coassist" in o["metadata"]]
    assert [f["metadata"]["coassist"]["settings"]["max_new_tokens"] for f in finals] == [77, 5]
    assert [f["metadata"]["coassist"]["format"] for f in finals] == ["text", "markdown"]


def test_error_subcommand_explains_the_last_failing_cell(shell, capsys) -> None:
    with pytest.raises(UsageError, match="no cell has raised an error"):
        shell.run_line_magic("assist", "error")
    shell.run_cell("table = {'a': 1}\ntable['b']", store_history=True)
    shell.run_line_magic("assist", "error --show-prompt")
    prompt = capsys.readouterr().out
    assert "raised KeyError: 'b'" in prompt
    assert "table = {'a': 1}\ntable['b']" in prompt
    assert "Traceback:" in prompt and "KeyError: 'b'" in prompt.split("Traceback:")[1]
    # The last_error pseudo-variable carries the same text into any question.
    shell.run_cell_magic("assist", "--show-prompt", "Why? {last_error}")
    assert "raised KeyError: 'b'" in capsys.readouterr().out


def test_history_reset_models_and_doctor(shell, scripted, capsys) -> None:
    with capture_output():
        shell.run_cell_magic("assist", "", "what is a join?")
    shell.run_line_magic("assist", "history")
    assert "[1] (scripted) Q: what is a join?" in capsys.readouterr().out
    shell.run_line_magic("assist", "reset")
    shell.run_line_magic("assist", "history")
    assert "No exchanges yet." in capsys.readouterr().out
    shell.run_line_magic("assist", "models")
    models = capsys.readouterr().out
    assert "openai:http://host:port/v1#model" in models and "embedded SmolLM2" in models
    shell.run_line_magic("assist", "doctor")
    doctor = capsys.readouterr().out
    assert "network needed  no: the model is local" in doctor and "torch" in doctor and "resolved device" in doctor


def test_line_magic_asks_a_one_line_question(shell, scripted) -> None:
    with capture_output():
        shell.run_line_magic("assist", "-o short what is a join?")
    assert scripted.calls[-1][-1]["content"] == "what is a join?" and shell.user_ns["short"] == CODE_ANSWER


def test_unknown_option_is_a_usage_error(shell) -> None:
    with pytest.raises(UsageError, match="usage: %%assist"):
        shell.run_cell_magic("assist", "--format yaml", "q")


def test_name_taken_by_another_package_keeps_coassist_available(shell) -> None:
    from coassist.notebook.magics import register_magics

    def other_assist(line: str, cell: str | None = None) -> str:
        return "genai"

    shell.magics_manager.register_function(other_assist, magic_kind="line_cell", magic_name="assist")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            register_magics(shell)
        assert any("%%coassist" in str(w.message) for w in caught)
        assert shell.run_line_magic("assist", "x") == "genai"
        assert shell.magics_manager.magics["cell"]["coassist"].__self__.__class__.__name__ == "AssistMagics"
    finally:
        for kind in ("line", "cell"):
            shell.magics_manager.magics[kind].pop("assist", None)
        register_magics(shell)


def test_an_error_raised_before_coassist_was_loaded_can_be_explained(shell) -> None:
    """The palette's "explain the error" loads coassist quietly after the failing cell ran."""
    from coassist.notebook import session as session_module

    ip = shell
    session = getattr(ip, session_module._SESSION_ATTRIBUTE)
    ip.events.unregister("post_run_cell", session.errors)
    delattr(ip, session_module._SESSION_ATTRIBUTE)  # as if coassist were not loaded yet
    ip.run_cell("data = {'units': 3}\ndata['unit']")
    error = get_session(ip).errors.error
    assert error is not None and error.exception_type == "KeyError" and "data['unit']" in error.cell_source


CUT_CODE = "Here:\n```python\ndef mean(values):\n    total = sum(values)\n    return total / len(values)\n```"


def test_a_cut_off_answer_closes_its_code_block_and_says_how_to_raise_the_limit(
    shell, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ScriptedModel(CUT_CODE, cut_off=True)
    monkeypatch.setattr(AssistSession, "model", lambda self, spec=None: model)
    next_inputs: list[str] = []
    monkeypatch.setattr(shell, "set_next_input", lambda text, replace=False: next_inputs.append(text))
    with capture_output() as captured:
        shell.run_cell_magic("assist", "--max-new-tokens 8 -f code -o cut", "Write mean().")
    # Eight space-separated "tokens" (the indent's spaces count), ending inside the code block.
    assert shell.user_ns["cut"] == "Here:\n```python\ndef mean(values):\n    total = sum(values)\n"
    final = [o for o in _displays(captured) if "coassist" in o["metadata"]][-1]
    notice = "*(cut off at 8 tokens — `--max-new-tokens` to raise; not kept in the conversation)*"
    assert final["data"]["text/plain"] == f"{shell.user_ns['cut']}```\n\n{notice}"
    html = final["data"]["text/html"]
    assert html.endswith("</code></pre>\n<p><em>(cut off at 8 tokens — <code>--max-new-tokens</code> to raise; "
                         "not kept in the conversation)</em></p>\n")
    assert next_inputs == ["def mean(values):\n    total = sum(values)"]  # -f code still finds the code
    assert get_session(shell).conversation.exchanges == []


def test_a_looping_answer_is_shown_with_a_notice_and_not_built_upon(shell, monkeypatch: pytest.MonkeyPatch) -> None:
    model = ScriptedModel("- units_revenue\n" * 6)
    monkeypatch.setattr(AssistSession, "model", lambda self, spec=None: model)
    with capture_output() as captured:
        shell.run_cell_magic("assist", "-f text --max-new-tokens 64", "List the columns.")
        shell.run_cell_magic("assist", "-f text", "And again?")
    final = [o for o in _displays(captured) if "coassist" in o["metadata"]][0]
    assert final["data"]["text/plain"].endswith("\n\n*(not kept in the conversation: it repeats itself)*")
    assert [m["content"] for m in model.calls[-1][1:]] == ["And again?"]


def test_show_prompt_shows_the_table_apart_and_the_question_last(shell, capsys) -> None:
    import pandas as pd

    shell.user_ns["sales"] = pd.DataFrame({"region": ["n", None], "units": [1, 2]})
    shell.run_cell_magic("assist", "--show-prompt", "Which columns of {sales} have missing values?")
    printed = capsys.readouterr().out
    described = printed.index("`sales` is a pandas DataFrame with 2 rows and 2 columns.")
    assert described < printed.index("Columns with missing values (most first): region (1).") < printed.index(
        "Question: Which columns of `sales` have missing values?"
    )
    assert "| 0" not in printed
