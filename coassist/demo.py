"""`coassist demo`: run the quickstart notebook top to bottom and show what it printed.

The same notebook the tests execute, so the demo cannot drift from what is tested.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

_PACKAGE = Path(__file__).resolve().parent
EXAMPLES = _PACKAGE / "examples" if (_PACKAGE / "examples").is_dir() else _PACKAGE.parent / "examples"
"""The example notebooks: inside the package when installed from the wheel (pyproject's
force-include), beside it in a checkout."""
QUICKSTART = EXAMPLES / "quickstart.ipynb"


def add_demo_command(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="execute the quickstart notebook offline and print its outputs")
    parser.add_argument("--notebook", type=Path, default=QUICKSTART, help="notebook to run (default: quickstart)")
    parser.add_argument("--save", type=Path, default=None, help="also write the executed notebook here")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell")
    parser.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    import nbformat
    from nbclient import NotebookClient

    if not args.notebook.is_file():
        print(f"coassist demo: no notebook at {args.notebook}; pass --notebook path/to/notebook.ipynb")
        return 2
    notebook = nbformat.read(args.notebook, as_version=4)
    print(f"Running {args.notebook} (the first run dequantises SmolLM2 once, ~20 s)...\n")
    NotebookClient(
        notebook,
        timeout=args.timeout,
        resources={"metadata": {"path": str(args.notebook.parent)}},
        # The kernel's own notices (TCP without encryption, on 127.0.0.1) are not the demo's
        # output, and nobody reading it can act on them; its errors still show.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()
    for cell in notebook.cells:
        _print_cell(cell)
    if args.save:
        nbformat.write(notebook, args.save)
        print(f"\nExecuted notebook written to {args.save}")
    return 0


def _print_cell(cell: Any) -> None:
    if cell.cell_type == "markdown":
        print(cell.source, "\n")
        return
    if cell.cell_type != "code":
        return
    print("\n".join(f">>> {line}" for line in cell.source.splitlines()))
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            print(output.get("text", ""), end="")
        elif "data" in output:
            data = output["data"]
            print(data.get("text/markdown") or data.get("text/plain", ""))
    print()
