"""Prompt context: interpolation, value summaries, conversation trimming, code extraction."""

from __future__ import annotations

import pandas as pd
import pytest

from coassist.errors import PromptTemplateError
from coassist.notebook.code_blocks import extract_code
from coassist.notebook.conversation import Conversation
from coassist.notebook.interpolate import interpolate
from coassist.notebook.summarise import describe_value


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
    text = describe_value(frame, budget_tokens=500)
    assert text.splitlines() == [
        "pandas DataFrame with 3 rows and 3 columns.",
        "column | dtype | nulls",
        f"region | {frame.dtypes['region']} | 1",
        "revenue | float64 | 1",
        "secret | int64 | 0",
    ]


def test_dataframe_sample_rows_only_when_asked() -> None:
    frame = pd.DataFrame({"a": [111, 222, 333]})
    assert "222" not in describe_value(frame, 500)
    with_rows = describe_value(frame, 500, sample_rows=2)
    assert "First 2 rows:" in with_rows and "222" in with_rows and "333" not in with_rows


def test_series_summary_and_budget() -> None:
    series = pd.Series([1.5, None, 3.0], name="price")
    assert describe_value(series, 500) == "pandas Series price with 3 values, dtype float64, 1 nulls."
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
