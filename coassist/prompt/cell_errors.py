"""An exception raised by a notebook cell, as the model sees it: the cell, the traceback, the facts.

One builder for `%assist error`, the palette's "explain the error", the evaluation harness and
the training curriculum, so what is measured and trained on is what users send.

A traceback alone rarely holds the fix: ``KeyError: 'temperature'`` does not say that the
column is called ``temp``, and no model can guess it. So the error carries *facts* read from
the frame that failed, the ones a person would look up first:

- the keys that do exist where a key was missing (a DataFrame's columns, a dict's keys), the
  nearest first;
- the attributes nearest to a missing one, and the defined names nearest to an undefined one
  (what Python's own "Did you mean" suggests), or the standard-library module of that name;
- the length of what an index ran past;
- the value and type of each name on the failing line.

Reading a frame only looks values up (names, attributes of names); it calls nothing, and every
value is shown cut to a few dozen characters.
"""

from __future__ import annotations

import ast
import difflib
import linecache
import sys
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any

from coassist.prompt.describe import plural

MAX_FACTS = 8
"""Facts an error carries at most: the failing line seldom names more worth knowing."""

MAX_KEYS = 20
"""Existing keys or columns listed at most, the nearest first."""

VALUE_CHARS = 60
"""Longest shown value (its repr), so one big value cannot crowd out the question."""


@dataclass(frozen=True)
class CellError:
    """An exception as the assistant should see it."""

    cell_source: str
    execution_count: int | None
    exception_type: str
    message: str
    traceback_text: str
    facts: tuple[str, ...] = ()
    """What the failing frame held that explains the error (see the module docstring)."""

    def as_prompt_text(self) -> str:
        facts = "".join(f"- {fact}\n" for fact in self.facts)
        return (
            f"This notebook cell (In[{self.execution_count}]) raised {self.exception_type}: {self.message}\n\n"
            f"Cell source:\n```python\n{self.cell_source}\n```\n\n"
            f"Traceback:\n```\n{self.traceback_text}\n```"
            + (f"\n\nFacts:\n{facts.rstrip()}" if facts else "")
        )


DEFAULT_ERROR_REQUEST = "Explain this error and show how to fix the code."


def error_question(error: CellError, request: str = "") -> str:
    """The question `%assist error [request]` asks: the error first, then the request.

    The request comes last, as in every question (see `layout`): a small model answers what it
    read last, so the traceback must not be the end of the prompt.
    """
    return f"{error.as_prompt_text()}\n\nQuestion: {request or DEFAULT_ERROR_REQUEST}"


def cell_error(exception: BaseException, source: str, execution_count: int | None) -> CellError:
    """`exception`, raised by the cell `source`, as the assistant should see it.

    Call it while `exception.__traceback__` still holds its frames (in a `post_run_cell` hook,
    or where the exception was caught): the facts are read from them.
    """
    return CellError(
        cell_source=source.strip(),
        execution_count=execution_count,
        exception_type=type(exception).__name__,
        message=str(exception),
        traceback_text=_format_traceback(exception),
        facts=tuple(error_facts(exception))[:MAX_FACTS],
    )


def run_as_cell(source: str, namespace: dict[str, Any], filename: str = "<ipython-input-1>") -> BaseException | None:
    """Run `source` (trusted code) as a notebook cell in `namespace`; what it raised, or None.

    The traceback starts in the cell, as IPython shows it (this function's frame left out),
    and the cell's lines are registered with `linecache` under `filename`, as IPython does,
    so tracebacks show them. The harness and the curriculum raise their errors through this.
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - trusted task code
    except Exception as exception:  # the exception is the point
        tb = exception.__traceback__
        return exception.with_traceback(tb.tb_next if tb else None)
    return None


# --- the traceback -------------------------------------------------------------------------


def _format_traceback(exception: BaseException) -> str:
    """The cell's frames and the one that raised, without IPython's machinery or the library
    frames between (a pandas KeyError passes through five; the model needs the first and the
    last), library paths from their package on."""
    frames = [f for f in traceback.extract_tb(exception.__traceback__) if not _is_ipython(f.filename)]
    cell_file = frames[0].filename if frames else None
    lines: list[str] = []
    skipped = 0
    for index, frame in enumerate(frames):
        if frame.filename != cell_file and index < len(frames) - 1:
            skipped += 1
            continue
        if skipped:
            lines.append(f"  ... {skipped} library frame{'s' if skipped > 1 else ''}\n")
            skipped = 0
        lines += traceback.format_list([_short_path(frame)])
    lines += traceback.format_exception_only(type(exception), exception)
    return "".join(lines).rstrip()


def _is_ipython(filename: str) -> bool:
    return "IPython/core/interactiveshell.py" in filename


def _short_path(frame: traceback.FrameSummary) -> traceback.FrameSummary:
    for marker in ("site-packages/", "dist-packages/"):
        if marker in frame.filename:
            return traceback.FrameSummary(
                frame.filename.split(marker, 1)[1], frame.lineno, frame.name, line=frame.line
            )
    return frame


# --- the facts -----------------------------------------------------------------------------


def error_facts(exception: BaseException) -> list[str]:
    """The facts that explain `exception`, read from the cell frame that failed (see the module
    docstring); empty when the traceback holds no frame of the cell."""
    frame, lineno = _failing_cell_frame(exception.__traceback__)
    if frame is None:
        return []
    statement = _statement_at(frame, lineno)
    names = _names_in(statement)
    namespace = _Namespace(frame)
    facts: list[str] = []
    if isinstance(exception, KeyError) and exception.args:
        facts += _missing_key_facts(exception.args[0], statement, names, namespace)
    elif isinstance(exception, AttributeError):
        facts += _missing_attribute_facts(exception)
    elif isinstance(exception, NameError) and exception.name:
        facts += _undefined_name_facts(exception.name, namespace)
    elif isinstance(exception, IndexError):
        facts += _index_facts(statement, namespace)
    for name in names:
        if name in namespace and not _is_module(namespace[name]):
            facts.append(f"`{name}` is {describe_object(namespace[name])}")
    return _unique(facts)


def describe_object(value: Any) -> str:
    """A value in a few words: its kind, its size or shape, and a short repr.

    >>> describe_object([90, 85, 77])
    'a list of 3 items: [90, 85, 77]'
    >>> describe_object("3")
    "a str: '3'"
    """
    kind = type(value).__name__
    module = type(value).__module__.split(".")[0]
    if module == "pandas" and hasattr(value, "shape"):
        if len(value.shape) == 2:
            return f"a pandas DataFrame with {plural(value.shape[0], 'row')} and {plural(value.shape[1], 'column')}"
        return f"a pandas {kind} of {len(value)} values, dtype {getattr(value, 'dtype', '?')}"
    if module == "numpy" and hasattr(value, "shape") and value.shape:
        return f"a numpy array of shape {tuple(value.shape)}, dtype {value.dtype}"
    if callable(value) and hasattr(value, "__name__"):
        return f"a {kind} `{value.__name__}`"
    text = _short_repr(value)
    article = "an" if kind[0] in "aeiou" else "a"
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return f"{article} {kind} of {plural(len(value), 'item')}: {text}"
    return f"{article} {kind}: {text}"


def _missing_key_facts(key: Any, statement: ast.AST | None, names: list[str], namespace: _Namespace) -> list[str]:
    """The keys that do exist in what was indexed with `key`, the nearest first.

    The container is the one the failing line subscripts with `key`; failing that (a key
    passed to a method, as in ``df.groupby("regoin")``), each DataFrame or dict on the line.
    """
    containers = [name for name, literal in _subscripts(statement) if literal == key] + names
    facts = []
    for name in _unique(containers):
        value = namespace.lookup(name)
        keys = _keys_of(value)
        if keys is None:
            continue
        what = "columns" if _is_frame(value) else "keys"
        nearest = _nearest(str(key), [str(k) for k in keys])
        facts.append(f"`{name}` has no {what[:-1]} {key!r}; its {what}, nearest first: {', '.join(nearest)}")
    return facts


def _missing_attribute_facts(exception: AttributeError) -> list[str]:
    owner, name = getattr(exception, "obj", None), getattr(exception, "name", None)
    if owner is None or not name:
        return []
    public = [attribute for attribute in dir(owner) if not attribute.startswith("_")]
    close = _close(name, public)
    owner_text = f"the module `{owner.__name__}` has" if _is_module(owner) else f"`{type(owner).__name__}` objects have"
    facts = [f"{owner_text} no attribute `{name}`" + (f"; the nearest: {', '.join(close)}" if close else "")]
    columns = _keys_of(owner) if _is_frame(owner) else None
    if columns is not None:
        near_columns = _close(name, [str(c) for c in columns])
        if near_columns:
            facts.append(f"the DataFrame's columns nearest to `{name}`: {', '.join(near_columns)}")
    return facts


def _undefined_name_facts(name: str, namespace: _Namespace) -> list[str]:
    close = _close(name, namespace.defined())
    facts = []
    if close:
        facts.append(f"`{name}` is not defined; the defined names nearest to it: {', '.join(close)}")
    if name in sys.stdlib_module_names:
        facts.append(f"`{name}` is a standard library module, not imported yet: `import {name}`")
    return facts


def _index_facts(statement: ast.AST | None, namespace: _Namespace) -> list[str]:
    facts = []
    for name, index in _subscripts(statement):
        # `frame.iloc[i]`: the indexer has no length; its frame's rows are what ran out.
        owner = name.removesuffix(".iloc").removesuffix(".loc")
        value = namespace.lookup(owner)
        if value is None or not hasattr(value, "__len__") or isinstance(value, Mapping):
            continue
        length = len(value)
        unit = "row" if _is_frame(value) else "item"
        positions = f"positions 0 to {length - 1}" if length else "no positions at all"
        asked = f"; the index was {index!r}" if isinstance(index, int) else ""
        facts.append(f"`{owner}` has {plural(length, unit)} ({positions}){asked}")
    return facts


class _Namespace:
    """What a frame can see (its locals, then its globals, then the builtins), looked up
    without calling anything but attribute access on names."""

    def __init__(self, frame: FrameType) -> None:
        self.locals, self.globals = frame.f_locals, frame.f_globals
        builtins = frame.f_globals.get("__builtins__", {})
        self.builtins: Mapping[str, Any] = builtins if isinstance(builtins, Mapping) else vars(builtins)

    def __contains__(self, name: str) -> bool:
        return name in self.locals or name in self.globals

    def __getitem__(self, name: str) -> Any:
        return self.locals[name] if name in self.locals else self.globals[name]

    def lookup(self, dotted: str) -> Any:
        """The value of ``name`` or ``name.attr...``, or None when any part is missing."""
        head, *attributes = dotted.split(".")
        if head not in self:
            return None
        value = self[head]
        for attribute in attributes:
            try:
                value = getattr(value, attribute)
            except Exception:  # a property may raise anything; then there is no fact
                return None
        return value

    def defined(self) -> list[str]:
        names = {*self.locals, *self.globals, *self.builtins}
        return sorted(name for name in names if not name.startswith("_"))


def _failing_cell_frame(tb: TracebackType | None) -> tuple[FrameType | None, int]:
    """The innermost frame running the cell's code (the cell, or a function it defined), and
    the line it was on."""
    entries = [entry for entry in _walk(tb) if not _is_ipython(entry[0].f_code.co_filename)]
    if not entries:
        return None, 0
    cell_file = entries[0][0].f_code.co_filename
    frame, lineno = next(entry for entry in reversed(entries) if entry[0].f_code.co_filename == cell_file)
    return frame, lineno


def _walk(tb: TracebackType | None) -> Iterator[tuple[FrameType, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _statement_at(frame: FrameType, lineno: int) -> ast.AST | None:
    """The innermost statement of the frame's source that spans line `lineno`."""
    source = "".join(linecache.getlines(frame.f_code.co_filename))
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    found = None
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= lineno <= (node.end_lineno or node.lineno):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.While, ast.If, ast.With, ast.Try)):
                found = node
    return found


def _names_in(statement: ast.AST | None) -> list[str]:
    """The plain names the statement reads, in order of appearance."""
    if statement is None:
        return []
    names = [node for node in ast.walk(statement) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)]
    return _unique(node.id for node in sorted(names, key=lambda node: (node.lineno, node.col_offset)))


def _subscripts(statement: ast.AST | None) -> list[tuple[str, Any]]:
    """``(container, literal index)`` for each ``name[literal]`` or ``name.attr[literal]`` on
    the statement; the literal is None when the index is not a constant."""
    if statement is None:
        return []
    found = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Subscript):
            container = _dotted(node.value)
            if container is not None:
                found.append((container, _literal(node.slice)))
    return found


def _literal(node: ast.expr) -> Any:
    """The value of a literal index (``3``, ``-1``, ``"price"``), or None for anything else."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head is not None else None
    return None


def _keys_of(value: Any) -> list[Any] | None:
    if _is_frame(value):
        return list(value.columns)
    if isinstance(value, Mapping):
        return list(value.keys())
    return None


def _is_frame(value: Any) -> bool:
    return type(value).__module__.split(".")[0] == "pandas" and hasattr(value, "columns")


def _is_module(value: Any) -> bool:
    return type(value).__name__ == "module"


def _close(name: str, candidates: list[str]) -> list[str]:
    """Up to three of `candidates` close to `name`, closest first, ignoring case (``POSTAGE``
    is close to ``postage``), as Python's own "Did you mean" judges closeness."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    return [by_lower[match] for match in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)]


def _nearest(key: str, keys: list[str]) -> list[str]:
    """`keys` ordered nearest to `key` first (a case-insensitive match before all), at most
    `MAX_KEYS`."""
    scored = sorted(
        keys,
        key=lambda candidate: (
            candidate.lower() != key.lower(),
            -difflib.SequenceMatcher(None, key.lower(), candidate.lower()).ratio(),
        ),
    )
    return scored[:MAX_KEYS]


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break explaining the error
        return f"<{type(value).__name__}>"
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


def _unique(items: Any) -> list[Any]:
    return list(dict.fromkeys(items))
