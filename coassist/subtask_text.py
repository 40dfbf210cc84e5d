"""How a subtask reads as text: the one rule the review export and the router both follow.

The router is trained on labels the review export writes and then scores subtasks the
allocator holds, so both sides must turn a subtask into the same text. This module imports
nothing from coassist, so every layer can use it without importing another layer.
"""

from __future__ import annotations


def subtask_text(title: str, description: str) -> str:
    """The subtask as the router reads it: title, then description when there is one.

    >>> subtask_text("Clean data", "Drop duplicates")
    'Clean data\\n\\nDrop duplicates'
    >>> subtask_text("Clean data", "")
    'Clean data'
    """
    return f"{title}\n\n{description}" if description else title
