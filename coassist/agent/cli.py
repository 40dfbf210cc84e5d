"""`coassist agent`: run the scheduling agent of one AI worker from a terminal or a job.

Logs go to stderr, one line per batch and per re-plan (``--log-format json`` for a log
collector), and one when the database goes away and one when it is back. SIGTERM and Ctrl-C
stop it after the batch in flight is committed.

Exit status: 0 when stopped (or done, with --until-done or --once); 1 on bad input (the message
says what to fix); 75 when the database stayed unreachable longer than --give-up-seconds
(EX_TEMPFAIL: a supervisor may start it again later); 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from coassist.llm.spec import DEFAULT_SPEC

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

EXIT_DATABASE_UNREACHABLE = 75
"""sysexits' EX_TEMPFAIL: the failure is the database's, and trying again later may succeed."""


class JsonLines(logging.Formatter):
    """One JSON object per record: time, level, message and the record's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname,
                "message": record.getMessage(),
                **fields,
            },
            default=str,
        )


class KeyValues(logging.Formatter):
    """The message, then its structured fields as key=value, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{self.formatTime(record)} {record.getMessage()} {fields}".rstrip()


def add_agent_command(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "agent",
        help="run the scheduling agent of one AI worker: draft its subtasks as they unblock, re-plan on changes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--db", required=True, help="the review database: a SQLAlchemy URL or an SQLite file")
    parser.add_argument("--worker", required=True, help="the plan's AI worker this agent drafts for")
    parser.add_argument("--plan", type=int, default=None, help="plan id (default: the newest with --worker)")
    parser.add_argument("--model", default=DEFAULT_SPEC, help=f"model spec (default: {DEFAULT_SPEC})")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--lease-seconds", type=float, default=60.0)
    parser.add_argument("--replan-debounce-seconds", type=float, default=2.0)
    parser.add_argument(
        "--router-every",
        type=int,
        default=None,
        metavar="K",
        help="retrain the p_pass router after every K new decisions and re-plan with it (default: never)",
    )
    parser.add_argument("--router-dir", type=Path, default=None, help="where --router-every keeps the router")
    parser.add_argument(
        "--finetune-hint-every",
        type=int,
        default=50,
        metavar="N",
        help="say when N new approved or edited drafts make a fine-tune worthwhile (default: 50)",
    )
    parser.add_argument(
        "--give-up-seconds",
        type=float,
        default=None,
        metavar="S",
        help="exit (status 75) once the database has been unreachable this long; until then retry, "
        "saying so once per outage (default: AgentConfig.give_up_seconds, 300)",
    )
    parser.add_argument("--once", action="store_true", help="draft what is ready now, then exit")
    parser.add_argument(
        "--until-done", action="store_true", help="exit once every subtask of the plan is done"
    )
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from coassist.agent.learning import LearningConfig
    from coassist.agent.runner import Agent, AgentConfig
    from coassist.agent.status_cli import open_existing_store
    from coassist.errors import DatabaseUnreachable
    from coassist.llm.chat import GenerationSettings
    from coassist.review.drafting import DraftingConfig

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if args.log_format == "json" else KeyValues())
    logger = logging.getLogger("coassist.agent")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    config = AgentConfig(
        drafting=DraftingConfig(
            batch_size=args.batch_size,
            generation=GenerationSettings(max_new_tokens=args.max_new_tokens),
            progress=False,
        ),
        lease_seconds=args.lease_seconds,
        replan_debounce_seconds=args.replan_debounce_seconds,
        until_done=args.until_done,
        learning=LearningConfig(args.router_every, args.router_dir, args.finetune_hint_every),
        **({} if args.give_up_seconds is None else {"give_up_seconds": args.give_up_seconds}),
    )
    # An existing database only: a mistyped SQLite path must not become a new, empty one.
    agent = Agent(open_existing_store(args.db), args.worker, args.model, plan_id=args.plan, config=config)
    signal.signal(signal.SIGTERM, lambda *_: agent.request_stop())
    try:
        report = agent.run_once() if args.once else agent.run()
    except KeyboardInterrupt:
        return 130
    except DatabaseUnreachable as error:
        print(f"coassist agent: {error}", file=sys.stderr)
        return EXIT_DATABASE_UNREACHABLE
    print(
        f"agent {agent.id}: drafted {len(report.drafted)} subtask(s) in {report.batches} batch(es), "
        f"{len(report.replans)} re-plan(s)",
        file=sys.stderr,
    )
    return 0
