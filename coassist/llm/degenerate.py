"""Tell a looping answer from a real one: the one rule for "degenerate", used everywhere.

Small models under greedy decoding fall into loops: the same bullet fifteen times, or one
phrase over and over until the token limit. Such an answer is worse than none; the notebook
keeps it out of the conversation (a later answer would copy the loop) and the evaluation
harness counts how often it happens.

>>> is_degenerate("- units_revenue\\n" * 6)
True
>>> is_degenerate("Columns with missing values: `price` (2 nulls).")
False

Both models stop generating once an answer loops (`LOOP_CHECK_TOKENS`) and keep only the text
before the repeats (`trim_repetition`): the loop costs no more time, and what is shown and
measured is the answer, not the loop.
"""

from __future__ import annotations

import re
from collections import Counter

from coassist.llm.chat import FinishReason

# A line this long or longer that comes back this many times is a loop, not a list: real
# answers repeat short lines (`}`, `else:`, blank) but not whole statements or bullets.
MIN_LINE_CHARS = 6
MAX_LINE_REPEATS = 3
# A run of this many words seen this many times is a loop inside a paragraph.
NGRAM_WORDS = 8
MAX_NGRAM_REPEATS = 2

_WORD = re.compile(r"\S+")

LOOP_CHECK_TOKENS = 8
"""How often (in generated tokens, or streamed pieces) a generation checks itself for a loop:
often enough to stop within a line of it, rarely enough that decoding to check costs nothing."""


def is_degenerate(text: str) -> bool:
    """True when `text` repeats a line or a phrase more than a sane answer would."""
    return repeated_line(text) is not None or repeated_phrase(text) is not None


def repeated_line(text: str) -> str | None:
    """The first line (stripped) that appears more than `MAX_LINE_REPEATS` times, if any."""
    lines = Counter(line.strip() for line in text.splitlines() if len(line.strip()) >= MIN_LINE_CHARS)
    return next((line for line, count in lines.items() if count > MAX_LINE_REPEATS), None)


def repeated_phrase(text: str) -> str | None:
    """The first run of `NGRAM_WORDS` words that appears more than `MAX_NGRAM_REPEATS` times."""
    words = _WORD.findall(text)
    seen: Counter[tuple[str, ...]] = Counter()
    for start in range(len(words) - NGRAM_WORDS + 1):
        phrase = tuple(words[start : start + NGRAM_WORDS])
        seen[phrase] += 1
        if seen[phrase] > MAX_NGRAM_REPEATS:
            return " ".join(phrase)
    return None


def trim_repetition(text: str) -> str:
    """`text` cut where its loop began: everything before the second copy of the repeated line
    or phrase, so one copy stays and the answer reads as written up to the loop.

    >>> trim_repetition("Missing values:\\n- units_revenue\\n- units_revenue\\n- units_revenue\\n- units_revenue\\n")
    'Missing values:\\n- units_revenue'
    """
    while is_degenerate(text):
        line = repeated_line(text)
        if line is not None:
            lines = text.splitlines(keepends=True)
            copies = [i for i, candidate in enumerate(lines) if candidate.strip() == line]
            text = "".join(lines[: copies[1]])
        else:
            phrase = repeated_phrase(text)
            assert phrase is not None  # is_degenerate: a line or a phrase repeats
            text = text[: _second_copy(text, phrase.split())]
    return text.rstrip()


def settle_loop(text: str, finish: FinishReason) -> tuple[str, FinishReason]:
    """An answer's final text and finish, for both model kinds: unless it was interrupted, an
    answer stopped as a loop, or one whose loop began after the last check, is a "repetition"
    with its repeats dropped.

    >>> settle_loop("- a column\\n" * 5, "length")
    ('- a column', 'repetition')
    """
    if finish == "interrupted" or (finish != "repetition" and not is_degenerate(text)):
        return text, finish
    return trim_repetition(text), "repetition"


def _second_copy(text: str, words: list[str]) -> int:
    """Where the second occurrence of the word sequence `words` starts in `text`."""
    matches = list(_WORD.finditer(text))
    starts = [
        matches[i].start()
        for i in range(len(matches) - len(words) + 1)
        if [m.group() for m in matches[i : i + len(words)]] == words
    ]
    return starts[1]
