"""Prompt context: interpolation, question layout, value summaries, what the conversation keeps,
code extraction."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from coassist.config import Assist
from coassist.errors import InvalidSetting, PromptTemplateError
from coassist.notebook.answer_view import answer_notice, answer_plain_and_html
from coassist.notebook.session import Answer, AssistSession
from coassist.prompt.cell_errors import cell_error, error_question
from coassist.prompt.code_blocks import close_open_fence, extract_code
from coassist.prompt.conversation import Conversation
from coassist.prompt.describe import describe_value
from coassist.prompt.interpolate import interpolate
from tests.scripted_model import ScriptedModel


def test_interpolation_is_one_pass_so_inserted_braces_stay_literal() -> None:
    namespace = {"In": ["", "config = {'lr': 0.1, 'layers': {'n': 2}}", "print(f'{x}')"], "x": 1}
    filled = interpolate("Explain {In[1]} and {In[2]}", namespace, str)
    assert filled == "Explain config = {'lr': 0.1, 'layers': {'n': 2}} and print(f'{x}')"


def test_doubled_braces_are_literal_braces() -> None:
    assert interpolate("a dict {{'k': {v}}}", {"v": 2}, str) == "a dict {'k': 2}"


def test_out_attribute_index_and_format_spec() -> None:
    class Run:
        loss = 0.123456

    namespace = {"Out": {3: [10, 20]}, "run": Run(), "d": {"key": "value"}}
    assert interpolate("{Out[3]} {run.loss:.2f} {d[key]} {d!r}", namespace, str) == (
        "[10, 20] 0.12 value {'key': 'value'}"
    )


def test_missing_variable_is_named() -> None:
    with pytest.raises(PromptTemplateError) as caught:
        interpolate("Plot {sales_df} by month", {}, str)
    assert caught.value.name == "sales_df"
    assert "no variable 'sales_df'" in str(caught.value) and "--no-interpolate" in str(caught.value)


@pytest.mark.parametrize(("template", "message"), [("a {} b", "empty {}"), ("a { b", "unbalanced braces")])
def test_malformed_placeholders_say_how_to_fix(template: str, message: str) -> None:
    with pytest.raises(PromptTemplateError, match=message):
        interpolate(template, {}, str)


def test_out_of_range_cell_reference_is_explained() -> None:
    with pytest.raises(PromptTemplateError, match=r"\{In\[9\]\} cannot be looked up: IndexError"):
        interpolate("{In[9]}", {"In": ["", "x"]}, str)


def test_dataframe_is_described_by_schema_without_rows() -> None:
    frame = pd.DataFrame({"region": ["n", None, "s"], "revenue": [1.0, 2.0, None], "secret": [7, 8, 9]})
    text = describe_value(frame, budget_tokens=500, statistics=False)
    assert text.splitlines() == [
        "pandas DataFrame with 3 rows and 3 columns.",
        "Columns with missing values (most first): region (1), revenue (1).",
        "Columns with no missing values: secret.",
        "Numeric columns: revenue, secret.",
        "Columns (dtype, missing values):",
        f"- region: {frame.dtypes['region']}, 1 missing value",
        "- revenue: float64, 1 missing value",
        "- secret: int64, no missing values",
    ]
    assert "7" not in text and "8" not in text  # no data, only the schema


def test_statistics_give_what_a_small_model_cannot_compute() -> None:
    frame = pd.DataFrame(
        {
            "city": ["Oslo", "Lima", None, "Oslo", "Oslo"],
            "temp": [3.5, 21.25, 9.0, 3.5, 3.5],
            "day": pd.to_datetime(["2025-01-02", "2025-01-01", "2025-01-03", "2025-01-02", "2025-01-02"]),
            "ok": [True, False, True, True, True],
        }
    )
    lines = describe_value(frame, budget_tokens=500).splitlines()
    assert lines[1:5] == [
        "Columns with missing values (most first): city (1).",
        "Columns with no missing values: temp, day, ok.",
        "Numeric columns: temp.",  # booleans have no meaningful mean
        "Duplicate rows: 2.",
    ]
    assert lines[5:] == [
        "Columns (dtype, missing values, values):",
        f"- city: {frame.dtypes['city']}, 1 missing value, 2 distinct values",
        "- temp: float64, no missing values, min 3.5, max 21.25, mean 8.15",
        f"- day: {frame.dtypes['day']}, no missing values, from 2025-01-01 to 2025-01-03",
        "- ok: bool, no missing values, 2 distinct values",
    ]


def test_missing_values_are_listed_most_first() -> None:
    frame = pd.DataFrame({"a": [None, 1.0, 2.0], "b": [None, None, 1.0], "c": [1, 2, 3]})
    assert "Columns with missing values (most first): b (2), a (1)." in describe_value(frame, budget_tokens=500)


def test_a_frame_without_missing_values_says_none_outright() -> None:
    text = describe_value(pd.DataFrame({"a": [1, 2], "b": [None, None]}).fillna(0), budget_tokens=500)
    assert "Columns with missing values (most first): none." in text and "Columns with no missing values: a, b." in text
    many = describe_value(pd.DataFrame({"a": [None, None, 1.0]}), budget_tokens=500)
    assert "- a: float64, 2 missing values" in many and "Columns with no missing values: none." in many


def test_dataframe_sample_rows_only_when_asked() -> None:
    frame = pd.DataFrame({"a": [111, 222, 999, 888]})
    assert "222" not in describe_value(frame, 500)  # the statistics give min 111, max 999, mean 555
    with_rows = describe_value(frame, 500, sample_rows=2)
    assert "First 2 rows:" in with_rows and "222" in with_rows and "888" not in with_rows


def test_series_summary_and_budget() -> None:
    series = pd.Series([1.5, None, 3.0], name="price")
    assert describe_value(series, 500) == (
        "pandas Series price with 3 values, dtype float64, 1 missing value, min 1.5, max 3, mean 2.25."
    )
    assert describe_value(series, 500, statistics=False) == (
        "pandas Series price with 3 values, dtype float64, 1 missing value."
    )
    cut = describe_value("z" * 1000, budget_tokens=10)
    assert cut.startswith("z" * 40) and cut.endswith("[truncated 960 characters]")


def _count_words(messages: list[dict[str, str]]) -> int:
    return sum(len(m["content"].split()) for m in messages)


def test_conversation_keeps_the_newest_exchanges_that_fit() -> None:
    conversation = Conversation(system_prompt="sys")
    for n in range(5):
        conversation.record(f"q{n} " + "w " * 9, f"a{n} " + "w " * 9, "m")  # 10 words each side
    messages = conversation.messages_for("new question", token_budget=45, count_tokens=_count_words)
    # system (1) + question (2) leave room for two whole exchanges (20 words each).
    assert [m["content"].split()[0] for m in messages] == ["sys", "q3", "a3", "q4", "a4", "new"]
    alone = conversation.messages_for("new question", 45, _count_words, with_history=False)
    assert [m["role"] for m in alone] == ["system", "user"]
    conversation.reset()
    assert conversation.exchanges == []


def test_code_extraction_skips_shell_blocks_and_keeps_unclosed_fences() -> None:
    answer = "Install:\n```bash\npip install x\n```\nThen:\n```python\nimport x\nx.run()\n```\nand ```py\nprint(1)"
    assert extract_code(answer) == "import x\nx.run()\n\nprint(1)"


# --- the question's layout: data context first, the question last -----------------------------


def _session(**user_ns: object) -> AssistSession:
    return AssistSession(SimpleNamespace(user_ns=user_ns), config=Assist())


SALES = pd.DataFrame({"region": ["n", None, "s"], "revenue": [1.0, None, 3.0], "units": [4, 5, 6]})


def test_the_issue_example_puts_the_table_apart_and_the_question_last() -> None:
    question = _session(sales=SALES).fill_template("Which columns of {sales} have missing values?")
    assert question == (
        "`sales` is a pandas DataFrame with 3 rows and 3 columns.\n"
        "Columns with missing values (most first): region (1), revenue (1).\n"
        "Columns with no missing values: units.\n"
        "Numeric columns: revenue, units.\n"
        "Duplicate rows: 0.\n"
        "Columns (dtype, missing values, values):\n"
        f"- region: {SALES.dtypes['region']}, 1 missing value, 2 distinct values\n"
        "- revenue: float64, 1 missing value, min 1, max 3, mean 2\n"
        "- units: int64, no missing values, min 4, max 6, mean 5\n"
        "\n"
        "Question: Which columns of `sales` have missing values?"
    )


def test_short_values_stay_inline_and_each_long_one_is_described_once() -> None:
    cell = "params = {'a': {'b': 1}}\nprint(f'{x}')"
    session = _session(sales=SALES, In=["", cell], n=12, path="data/sales.csv")
    question = session.fill_template("Load {path} ({n} files) like {In[1]}, then join {sales} and {sales}? {{ok}}")
    context, _, asked = question.rpartition("\n\nQuestion: ")
    assert asked == "Load data/sales.csv (12 files) like `In[1]`, then join `sales` and `sales`? {ok}"
    # Described in order of first mention, the cell's braces as written (never formatted again).
    assert context.startswith(f"`In[1]` is this notebook cell:\n```python\n{cell}\n```\n\n`sales` is a pandas")
    assert context.count("`sales` is a pandas DataFrame") == 1


def test_a_one_line_cell_is_still_context() -> None:
    question = _session(In=["", "df.groupby('a').sum()"]).fill_template("Explain {In[1]}")
    assert question == (
        "`In[1]` is this notebook cell:\n```python\ndf.groupby('a').sum()\n```\n\nQuestion: Explain `In[1]`"
    )


def test_an_interrupted_code_answer_keeps_the_notice_out_of_the_code() -> None:
    _, answer = _ask(ScriptedModel("Try:\n```python\nx = 1\ny = 2", interrupt_after=3))
    plain, html = answer_plain_and_html(answer, "`--max-new-tokens`")
    assert plain == "Try:\n```python\nx = 1\ny\n```\n\n*(interrupted; not kept in the conversation)*"
    assert html.endswith("</code></pre>\n<p><em>(interrupted; not kept in the conversation)</em></p>\n")


def test_last_error_is_context_and_a_missing_variable_is_still_named() -> None:
    session = _session()
    session.errors.error = cell_error(KeyError("b"), "table['b']", 4)
    question = session.fill_template("Why did this fail? {last_error}")
    assert question.startswith("`last_error`:\nThis notebook cell (In[4]) raised KeyError")
    assert question.endswith("\n\nQuestion: Why did this fail? `last_error`")
    with pytest.raises(PromptTemplateError) as caught:
        session.fill_template("Plot {sales_df}")
    assert caught.value.name == "sales_df"


def test_error_question_ends_with_the_request() -> None:
    question = error_question(cell_error(ZeroDivisionError("division by zero"), "1 / 0", 2), "Why?")
    assert question.startswith("This notebook cell (In[2]) raised ZeroDivisionError")
    assert question.endswith("```\n\nQuestion: Why?")


# --- what goes into the conversation ---------------------------------------------------------


def _ask(model: ScriptedModel, question: str = "q", **config: object) -> tuple[AssistSession, Answer]:
    session = AssistSession(SimpleNamespace(user_ns={}), config=Assist(**config))
    session.model = lambda spec=None: model  # type: ignore[method-assign]
    return session, session.ask(question)


LOOP = "Use dropna on the column.\n" * 6


@pytest.mark.parametrize(
    ("model", "max_new_tokens", "reason", "notice"),
    [
        (
            ScriptedModel("one two three four five", cut_off=True),
            3,
            "cut off",
            "*(cut off at 3 tokens — `--max-new-tokens` to raise; not kept in the conversation)*",
        ),
        (
            ScriptedModel("one two three four five", interrupt_after=2),
            8,
            "interrupted",
            "*(interrupted; not kept in the conversation)*",
        ),
        (ScriptedModel(LOOP), 64, "degenerate", "*(not kept in the conversation: it repeats itself)*"),
    ],
    ids=["cut-off", "interrupted", "degenerate"],
)
def test_incomplete_or_looping_answers_stay_out_of_the_conversation(
    model: ScriptedModel, max_new_tokens: int, reason: str, notice: str
) -> None:
    session, answer = _ask(model, max_new_tokens=max_new_tokens)
    assert answer.not_kept == reason and answer.provenance["not_kept"] == reason
    assert session.conversation.exchanges == []
    assert answer_notice(answer, "`--max-new-tokens`") == notice
    plain, html = answer_plain_and_html(answer, "`--max-new-tokens`")
    assert plain.endswith(f"\n\n{notice}")
    # The notice is its own paragraph after the answer's HTML, whatever the answer's Markdown.
    assert html.endswith("not kept in the conversation)</em></p>\n") or html.endswith("itself)</em></p>\n")
    assert html.count("<em>") == 1 and "</p>\n<p><em>(" in html


def test_a_whole_answer_is_kept_with_no_notice() -> None:
    session, answer = _ask(ScriptedModel("Use dropna."), max_new_tokens=8)
    assert answer.not_kept is None and answer_notice(answer, "`--max-new-tokens`") is None
    assert [(e.question, e.answer) for e in session.conversation.exchanges] == [("q", "Use dropna.")]


def test_history_budget_drops_the_oldest_exchanges_whole() -> None:
    conversation = Conversation(system_prompt="sys")
    for n in range(5):
        conversation.record(f"q{n} " + "w " * 9, f"a{n} " + "w " * 9, "m")  # 20 words an exchange
    roomy = conversation.messages_for("new question", 10_000, _count_words, history_budget=45)
    assert [m["content"].split()[0] for m in roomy] == ["sys", "q3", "a3", "q4", "a4", "new"]
    none = conversation.messages_for("new question", 10_000, _count_words, history_budget=19)
    assert [m["role"] for m in none] == ["system", "user"]


def test_session_applies_the_history_budget_and_system_prompt_traits() -> None:
    model = ScriptedModel("short answer")
    session = AssistSession(SimpleNamespace(user_ns={}), config=Assist(history_budget_tokens=12))
    session.model = lambda spec=None: model  # type: ignore[method-assign]
    for question in ("first", "second", "third"):
        session.ask(question)
    session.config.system_prompt = "Answer in one line."
    session.ask("fourth")
    # Each exchange costs 5 scripted tokens ("user: first", "assistant: short answer"): two fit in 12.
    assert [m["content"] for m in model.calls[-1]] == [
        "Answer in one line.", "second", "short answer", "third", "short answer", "fourth"
    ]


def test_repetition_penalty_trait_feeds_the_settings() -> None:
    session = AssistSession(SimpleNamespace(user_ns={}), config=Assist(repetition_penalty=1.2))
    assert session.settings().repetition_penalty == 1.2
    session.config.repetition_penalty = 0.0
    with pytest.raises(InvalidSetting, match="repetition_penalty: must be a positive number"):
        session.settings()


# --- cut-off answers in code ---------------------------------------------------------------


def test_an_open_fence_is_closed_and_a_closed_one_left_alone() -> None:
    assert close_open_fence("Try:\n```python\nx = 1\n") == "Try:\n```python\nx = 1\n```"
    assert close_open_fence("~~~~\n```\nstill code") == "~~~~\n```\nstill code\n~~~~"
    whole = "```python\nx = 1\n```\nThen `y`."
    assert close_open_fence(whole) == whole
    assert extract_code(close_open_fence("Here:\n```python\ndef f():\n    return")) == "def f():\n    return"
