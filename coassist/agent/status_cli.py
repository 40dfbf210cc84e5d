"""`coassist status --db URL [--plan ID] [--json]`: where the team's plan stands, in the terminal.

Subtasks by state, the review queue per reviewer, the agents and their last heartbeat, the
forecast finish against the plan, warnings and the latest re-plan (`coassist.agent.status`).
`--json` prints the same data as the server's ``GET /coassist/team``.

Exit status: 0 with a status; 1 when the database cannot be opened or holds no such plan (the
message says what to fix).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from coassist.errors import InvalidOption
from coassist.review.store import ReviewStore, as_db_url

URL_EXAMPLES = "sqlite:///team.db, a path to an SQLite file, or postgresql+psycopg://user@host/db"


def add_status_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register `status` on the `coassist` command's subparsers."""
    parser = subparsers.add_parser(
        "status",
        help="show a plan's progress: states, review queue, agents, forecast finish, latest re-plan",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", required=True, help=f"the review database: {URL_EXAMPLES}")
    parser.add_argument("--plan", type=int, help="the plan's id (default: the newest plan)")
    parser.add_argument(
        "--json", action="store_true", help="print JSON (as GET /coassist/team) instead of text"
    )
    parser.set_defaults(run=run_status)
    return parser


def run_status(args: argparse.Namespace) -> int:
    """Run `coassist status` with parsed arguments; returns the exit status."""
    from coassist.agent.status import team_status

    with open_existing_store(args.db) as store:
        status = team_status(store, args.plan)
    print(json.dumps(status.as_dict(), indent=2) if args.json else status.render())
    return 0


def open_existing_store(url: str) -> ReviewStore:
    """The review database at `url`, which must already exist: a status of a mistyped SQLite path
    would otherwise create an empty database there and report that it holds no plan.

    Raises
    ------
    InvalidOption
        (`--db`) The URL cannot be parsed, names no installed driver, or the database cannot be
        reached or does not exist; the message says which and shows accepted forms.
    """
    from coassist.review import open_store

    text = as_db_url(url)
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise InvalidOption("--db", f"{url!r} is not a database URL; give {URL_EXAMPLES}") from None
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise InvalidOption(
                "--db", f"{shown!r} is an in-memory database, which holds no plan; give a file"
            )
        if not Path(parsed.database).expanduser().is_file():
            raise InvalidOption("--db", f"there is no SQLite file at {parsed.database!r}; check the path")
    try:
        return open_store(text)
    except NoSuchModuleError:
        raise InvalidOption(
            "--db", f"{shown!r} names a database coassist has no driver for; give {URL_EXAMPLES}"
        ) from None
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else "unknown error"
        raise InvalidOption(
            "--db", f"cannot open the review database {shown!r} ({reason}); check the URL"
        ) from None
