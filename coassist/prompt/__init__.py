"""How coassist talks to a model: the messages a question becomes, and how answers are read.

Below the notebook, server, evaluation and training layers, above `coassist.llm`: the magics,
the widgets, the server's inline completion, `coassist eval` and the training curriculum all
build prompts here, so what is trained on and measured is what users send.

- `question`: `{placeholders}` filled (`interpolate`), DataFrames described (`describe`), the
  data before the question (`layout`): `build_question`.
- `cell_errors`: an exception raised by a cell, with the facts that explain it: `error_question`.
- `conversation`: the system prompt and the history that fits: `Conversation.messages_for`.
- `completion`: inline completion's prompt, settings and ghost-text cleaning.
- `code_blocks`: the code in an answer.
"""

from coassist.prompt.cell_errors import CellError, cell_error, error_question
from coassist.prompt.conversation import SYSTEM_PROMPT, Conversation, Exchange, first_turn
from coassist.prompt.question import ContextOptions, build_question

__all__ = [
    "SYSTEM_PROMPT",
    "CellError",
    "ContextOptions",
    "Conversation",
    "Exchange",
    "build_question",
    "cell_error",
    "error_question",
    "first_turn",
]
