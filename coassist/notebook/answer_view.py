"""How an answer is shown: its Markdown with fences balanced, and a notice when it is incomplete.

The `%%assist` output and the chat widget show answers the same way. A cut-off answer often
stops inside a code block; its fence is closed so the notice after it (and anything rendered
later) is not swallowed as code. The notice says how the answer ended and that it was left
out of the conversation, in one italic line rendered apart from the model's text.
"""

from __future__ import annotations

from coassist.notebook.safe_markdown import markdown_to_safe_html
from coassist.notebook.session import Answer
from coassist.prompt.code_blocks import close_open_fence


def answer_markdown(answer: Answer) -> str:
    """The answer's text with an open code fence closed (the model's text is otherwise unchanged)."""
    return close_open_fence(answer.text)


def partial_answer(text: str) -> dict[str, str]:
    """An answer while it streams, shown as it will end up: its Markdown rendered (an unclosed
    code block shows as code), a cursor where the next words come; plain text beside it.

    After a fence line the cursor goes on a line of its own: "``` ▌" would be no closing fence
    but a line of code.

    >>> partial_answer("Try:\\n```text\\nx = 1\\n```")["text/html"].endswith("</code></pre>\\n<p>▌</p>\\n")
    True
    """
    last_line = text.rstrip("\n").rpartition("\n")[2].strip()
    cursor = "\n\n▌" if last_line.startswith(("```", "~~~")) else " ▌"
    return {"text/plain": f"{text} ▌", "text/html": markdown_to_safe_html(text + cursor)}


def answer_notice(answer: Answer, raise_limit: str) -> str | None:
    """One italic Markdown line on how the answer ended and whether it was kept; None for a whole,
    kept answer. `raise_limit` names the setting that raises the token limit where it is shown
    (`--max-new-tokens` in a cell, `%config Assist.max_new_tokens` in the chat panel).
    """
    parts: list[str] = []
    if answer.finish == "length":
        parts.append(f"cut off at {answer.max_new_tokens} tokens — {raise_limit} to raise")
    elif answer.finish == "interrupted":
        parts.append("interrupted")
    elif answer.finish == "repetition":
        parts.append("stopped where it began repeating itself")
    if answer.not_kept == "degenerate":
        parts.append("not kept in the conversation: it repeats itself" if answer.finish != "repetition" else "not kept in the conversation")
    elif answer.not_kept is not None:
        parts.append("not kept in the conversation")
    return f"*({'; '.join(parts)})*" if parts else None


def answer_plain_and_html(answer: Answer, raise_limit: str) -> tuple[str, str]:
    """The answer as `text/plain` and as safe HTML, the notice after it in both.

    The model's text and the notice are rendered to HTML separately, so the notice can never
    land inside the answer's Markdown (a code block, a list, a link).
    """
    body = answer_markdown(answer)
    notice = answer_notice(answer, raise_limit)
    if notice is None:
        return body, markdown_to_safe_html(body)
    return f"{body.rstrip()}\n\n{notice}", markdown_to_safe_html(body) + markdown_to_safe_html(notice)
