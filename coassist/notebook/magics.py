"""`%%assist` and `%assist`: ask the assistant from a notebook cell.

    %%assist -f code
    Write a function that plots {df} by month.

Line forms: `%assist <question>`, `%assist error [question]`, `%assist models`,
`%assist history`, `%assist reset`, `%assist doctor`.
"""

from __future__ import annotations

import argparse
import warnings
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.display import Markdown, display

from coassist.errors import CoassistError
from coassist.notebook.code_blocks import extract_code
from coassist.notebook.doctor import doctor_report, models_report
from coassist.notebook.session import Answer, AssistSession, get_session
from coassist.notebook.streaming import StreamingDisplay

SUBCOMMANDS = ("error", "models", "history", "reset", "doctor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="%%assist", add_help=False, exit_on_error=False)
    parser.add_argument("-f", "--format", choices=["markdown", "code", "text"], default=None)
    parser.add_argument("-m", "--model", default=None, help="model spec for this cell")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("-o", "--output", default=None, metavar="VAR", help="store the answer in VAR")
    parser.add_argument("--reset", action="store_true", help="start a new conversation first")
    parser.add_argument("--no-history", action="store_true", help="ask without earlier exchanges")
    parser.add_argument("--no-interpolate", action="store_true", help="send {braces} literally")
    parser.add_argument("--sample-rows", type=int, default=None, help="sample rows for DataFrames")
    parser.add_argument("--show-prompt", action="store_true", help="print what the model would see; no answer")
    parser.add_argument("question", nargs=argparse.REMAINDER)
    return parser


_PARSER = _parser()


def _parse(words: list[str]) -> argparse.Namespace:
    try:
        return _PARSER.parse_args(words)
    except (argparse.ArgumentError, SystemExit) as error:
        raise UsageError(f"{error}\n{_PARSER.format_usage()}") from None


@magics_class
class AssistMagics(Magics):
    """The magics; all state lives in the shell's `AssistSession`."""

    @property
    def session(self) -> AssistSession:
        return get_session(self.shell)

    @line_cell_magic
    def assist(self, line: str, cell: str | None = None) -> None:
        """Ask the assistant. `%assist doctor` explains the setup; see the module docstring."""
        args = _parse(line.split())
        if cell is None and args.question and args.question[0] in SUBCOMMANDS:
            # `%assist error --show-prompt`: options may follow the subcommand too.
            name, rest = args.question[0], _parse(args.question[1:])
            merged = {**vars(args), **{key: value for key, value in vars(rest).items() if value}}
            args = argparse.Namespace(**{**merged, "question": [name, *rest.question]})
        try:
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
        self._ask(question, args)

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
            request = rest or "Explain this error and show how to fix the code."
            self._ask(f"{request}\n\n{error.as_prompt_text()}", args)

    def _ask(self, question: str, args: argparse.Namespace) -> None:
        session = self.session
        settings = session.settings(args.max_new_tokens, args.temperature)
        output_format = args.format or session.config.default_format
        if args.show_prompt:
            model = session.model(args.model)
            messages = session.messages(question, model, settings, not args.no_history)
            print(model.render_prompt(messages))
            return
        stream = StreamingDisplay()
        answer = session.ask(
            question, spec=args.model, settings=settings, with_history=not args.no_history, on_text=stream.append
        )
        self._present(answer, output_format, stream)
        if args.output:
            session.shell.user_ns[args.output] = answer.text

    def _present(self, answer: Answer, output_format: str, stream: StreamingDisplay) -> None:
        metadata = {"coassist": {**answer.provenance, "format": output_format}}
        text = answer.text + ("\n\n*(interrupted)*" if answer.interrupted else "")
        if output_format == "text":
            stream.finish({"text/plain": text}, metadata)
        else:
            stream.finish({"text/markdown": text, "text/plain": text}, metadata)
        if output_format == "code" and not answer.interrupted:
            code = extract_code(answer.text)
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
