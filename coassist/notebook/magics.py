"""`%%assist` and `%assist`: ask the assistant from a notebook cell.

    %%assist -f code
    Write a function that plots {df} by month.

Line forms: `%assist <question>`, `%assist error [question]`, `%assist models`,
`%assist history`, `%assist reset`, `%assist doctor`. `%assist?` lists every option.
"""

from __future__ import annotations

import argparse
import keyword
import warnings
from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import Markdown, display

from coassist.errors import CoassistError
from coassist.notebook.answer_view import answer_markdown, answer_plain_and_html, partial_answer
from coassist.notebook.doctor import doctor_report, models_report
from coassist.notebook.session import Answer, AssistSession, get_session
from coassist.notebook.streaming import StreamingDisplay, plain_partial
from coassist.prompt.cell_errors import error_question
from coassist.prompt.code_blocks import extract_code

SUBCOMMANDS = ("error", "models", "history", "reset", "doctor")
# Shown in the answer's place while a model loads slowly: the embedded model's first use
# dequantises it (about 20 s on a laptop CPU); the answer replaces it as it starts streaming.
LOADING_NOTICE = "Loading the model (first time: about 20 s)…"


# Names `-o` must not replace: IPython's own history and helpers in the user namespace.
_RESERVED_OUTPUTS = frozenset({"In", "Out", "get_ipython", "exit", "quit"})


def _parse(words: list[str]) -> argparse.Namespace:
    """Parse the magic's line (already split on whitespace) with the parser its decorators build.

    Words are split on whitespace only, not shell-style: a question such as "what's a join?"
    must not fail on its apostrophe.
    """
    parser: magic_arguments.MagicArgumentParser = AssistMagics.assist.parser
    try:
        args, extras = parser.parse_known_args(words)
    except UsageError as error:
        # MagicHelpFormatter writes usage as reST for the docstring ("::" and an indent); one line here.
        usage = " ".join(parser.format_usage().partition("::")[2].split())
        raise UsageError(f"{error}; see %assist?\nusage: {usage}") from None
    if extras:
        # The question takes every word from the first one that is not an option, so only
        # options the parser does not know end up here.
        raise UsageError(f"unknown option {extras[0]}; see %assist?")
    return args


def _given(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user actually typed: those that differ from the parser's defaults.

    Judged against the default, not truthiness, so `--temperature 0` counts as given.
    """
    parser = AssistMagics.assist.parser
    return {key: value for key, value in vars(args).items() if value != parser.get_default(key)}


def _check_output_name(name: str | None) -> None:
    # Checked before asking: a bad name found after generating would lose the answer.
    if name is None:
        return
    if not name.isidentifier() or keyword.iskeyword(name):
        raise UsageError(f"-o needs a Python variable name to store the answer in, got {name!r}")
    if name in _RESERVED_OUTPUTS:
        raise UsageError(f"-o {name} would replace IPython's own {name}; choose another variable name")


@magics_class
class AssistMagics(Magics):
    """The magics; all state lives in the shell's `AssistSession`."""

    @property
    def session(self) -> AssistSession:
        return get_session(self.shell)

    @magic_arguments.magic_arguments(name="%assist")  # the help formatter adds one more "%"
    @magic_arguments.argument(
        "-f",
        "--format",
        choices=["markdown", "code", "text"],
        default=None,
        help="how to show the answer: markdown, code (the answer's code goes into a new cell below "
        "and is never run) or text. Default: Assist.default_format",
    )
    @magic_arguments.argument(
        "-m", "--model", default=None, metavar="SPEC", help="model spec for this cell (see %%assist models)"
    )
    @magic_arguments.argument(
        "--max-new-tokens", type=int, default=None, metavar="N", help="longest answer, in tokens, N >= 1. Default: Assist.max_new_tokens"
    )
    @magic_arguments.argument(
        "--temperature",
        type=float,
        default=None,
        metavar="T",
        help="0 for greedy, reproducible answers; above 0 samples with that temperature. "
        "Default: Assist.temperature",
    )
    @magic_arguments.argument("-o", "--output", default=None, metavar="VAR", help="store the answer text in VAR")
    @magic_arguments.argument("--reset", action="store_true", help="start a new conversation first")
    @magic_arguments.argument("--no-history", action="store_true", help="ask without earlier exchanges")
    @magic_arguments.argument("--no-interpolate", action="store_true", help="send {braces} literally")
    @magic_arguments.argument(
        "--sample-rows", type=int, default=None, metavar="N", help="include N sample rows of interpolated DataFrames. Default: Assist.dataframe_sample_rows"
    )
    @magic_arguments.argument(
        "--show-prompt", action="store_true", help="print exactly what the model would see, and generate nothing"
    )
    @magic_arguments.argument(
        "question",
        nargs=argparse.REMAINDER,
        help="the question, on the %%assist line; or a subcommand: error [question] (explain the last "
        "exception), history, reset, models, doctor",
    )
    @line_cell_magic
    def assist(self, line: str, cell: str | None = None) -> None:
        """Ask the assistant: `%%assist [options]` with the question below, or `%assist question`.

        `{name}`, `{obj.attr}`, `{d[key]}`, `{In[3]}` and `{Out[2]}` in the question are
        filled from the notebook; `%assist doctor` explains the setup.
        """
        args = _parse(line.split())
        if cell is None and args.question and args.question[0] in SUBCOMMANDS:
            # `%assist error --show-prompt`: options may follow the subcommand too.
            name, rest = args.question[0], _parse(args.question[1:])
            args = argparse.Namespace(**{**vars(args), **_given(rest), "question": [name, *rest.question]})
        _check_output_name(args.output)
        if args.sample_rows is not None and args.sample_rows < 0:
            raise UsageError(f"--sample-rows must be a whole number >= 0, got {args.sample_rows}")
        try:
            # Settings are checked before the prompt is filled or a model loaded, so the first
            # message is about the option the user typed.
            self.session.settings(args.max_new_tokens, args.temperature)
            self._run(args, cell)
        except CoassistError as error:
            # A UsageError shows the message without a traceback: these errors say what to fix.
            raise UsageError(str(error)) from error

    def _run(self, args: argparse.Namespace, cell: str | None) -> None:
        words = args.question
        if cell is None and words and words[0] in SUBCOMMANDS:
            self._subcommand(words[0], " ".join(words[1:]), args)
            return
        if args.reset:
            self.session.conversation.reset()
        if cell is None:
            template = " ".join(words)
        else:
            if words:
                raise UsageError(f"unexpected words on the %%assist line: {' '.join(words)!r}")
            template = cell
        if not template.strip():
            raise UsageError("the question is empty: write it below %%assist (or after %assist).")
        question = template if args.no_interpolate else self.session.fill_template(template, args.sample_rows)
        self._ask(question, args, template.strip())

    def _subcommand(self, name: str, rest: str, args: argparse.Namespace) -> None:
        session = self.session
        if name == "reset":
            session.conversation.reset()
            print("Started a new conversation.")
        elif name == "history":
            exchanges = session.conversation.exchanges
            if not exchanges:
                print("No exchanges yet.")
            for number, exchange in enumerate(exchanges, 1):
                print(f"[{number}] ({exchange.model}) Q: {exchange.question}\n    A: {exchange.answer}\n")
        elif name == "models":
            print(models_report(session))
        elif name == "doctor":
            print(doctor_report(session))
        elif name == "error":
            error = session.errors.error
            if error is None:
                raise UsageError("no cell has raised an error in this session yet, so there is nothing to explain.")
            self._ask(error_question(error, rest), args, f"%assist error {rest}".strip())

    def _ask(self, question: str, args: argparse.Namespace, typed: str) -> None:
        """Ask `question`, built from what the person `typed` (kept with the exchange, for the chat
        panel to show as theirs)."""
        session = self.session
        settings = session.settings(args.max_new_tokens, args.temperature)
        output_format = args.format or session.config.default_format
        if args.show_prompt:
            model = session.model(args.model)
            messages = session.messages(question, model, settings, not args.no_history)
            print(model.render_prompt(messages))
            return
        stream = StreamingDisplay(partial=plain_partial if output_format == "text" else partial_answer)
        with stream.notice_while_slow(LOADING_NOTICE):
            session.model(args.model)  # loaded once per kernel; `ask` below reuses it
        answer = session.ask(
            question,
            spec=args.model,
            settings=settings,
            with_history=not args.no_history,
            on_text=stream.append,
            typed=typed,
        )
        self._present(answer, output_format, stream)
        if args.output:
            session.shell.user_ns[args.output] = answer.text

    def _present(self, answer: Answer, output_format: str, stream: StreamingDisplay) -> None:
        metadata = {"coassist": {**answer.provenance, "format": output_format}}
        text, html = answer_plain_and_html(answer, "`--max-new-tokens`")
        if output_format == "text":
            stream.finish({"text/plain": text}, metadata)
        else:
            # Model text is untrusted: never `text/markdown`, whose raw HTML JupyterLab would run
            # in a just-executed cell.
            stream.finish({"text/html": html, "text/plain": text}, metadata)
        if output_format == "code" and not answer.interrupted:
            code = extract_code(answer_markdown(answer))
            # Put it in a new cell for the user to read first; never run generated code.
            self.session.shell.set_next_input(code, replace=False)
            display(Markdown("*The code is in the next cell. Read it before you run it.*"))


def register_magics(shell: Any) -> None:
    """Register `%%coassist` always, and `%%assist` unless another package owns that name."""
    magics = AssistMagics(shell)
    get_session(shell)
    taken = shell.magics_manager.magics["cell"].get("assist") or shell.magics_manager.magics["line"].get("assist")
    names = ["coassist"]
    if taken is None or getattr(taken, "__self__", None).__class__.__name__ == "AssistMagics":
        names.append("assist")
    else:
        warnings.warn(
            "another extension already defines %%assist; coassist's magics are available as %%coassist.",
            stacklevel=2,
        )
    # IPython types its magic decorators as returning a decorator, which mypy cannot bind.
    assist: Any = magics.assist  # type: ignore[misc]
    for name in names:
        shell.magics_manager.register_function(assist, magic_kind="line_cell", magic_name=name)
