"""Which database the sidebar reads, its empty states, and who a decision is recorded under, through
a real Jupyter Server (pytest-jupyter's jp_fetch) with real kernels.

A kernel links a store with `show_in_sidebar` by writing a file beside its connection file; here
the test writes that file for the kernel (as `show_in_sidebar` does in it), and the browser test
(tests/browser/test_sidebar_follows_notebooks.py) runs the call in a notebook."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from coassist.errors import InvalidOption
from coassist.review import audit_trail, open_store, review_queue
from coassist.server import SUBSHELL_MESSAGE_TYPES, show_in_sidebar
from coassist.server.contract import schema_for
from coassist.server.sidebar_link import link_path, linked_url
from tests.test_server_handlers import expect_error, fetch_json, seed_review_db

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@asynccontextmanager
async def running_kernel(jp_serverapp: Any) -> AsyncIterator[str]:
    """A kernel the server runs (no notebook needs to be open for the sidebar to name it)."""
    manager = jp_serverapp.kernel_manager
    kernel_id = await manager.start_kernel()
    try:
        yield kernel_id
    finally:
        await manager.shutdown_kernel(kernel_id, now=True)


def link(jp_serverapp: Any, kernel_id: str, url: str) -> None:
    """What `show_in_sidebar(store)` writes in kernel `kernel_id`."""
    connection_file = Path(jp_serverapp.kernel_manager.get_kernel(kernel_id).connection_file)
    path = link_path(connection_file)
    assert path is not None
    path.write_text(json.dumps({"url": url}))
    assert linked_url(connection_file) == url


def drafts_decided(url: str) -> list[tuple[str, str]]:
    with open_store(url) as store:
        decisions = ("draft.approved", "draft.edited", "draft.rejected")
        return [(e.actor, e.action) for e in audit_trail(store, entity="draft") if e.action in decisions]


def check(name: str, body: Any) -> None:
    import jsonschema

    jsonschema.Draft202012Validator(schema_for(name)).validate(body)


async def test_a_notebooks_store_is_read_and_decided_in_and_others_see_the_servers(
    jp_fetch: Any, jp_serverapp: Any, review_db: str, tmp_path: Path
) -> None:
    notebook_db = seed_review_db(tmp_path / "notebook.db")
    async with running_kernel(jp_serverapp) as kernel:
        link(jp_serverapp, kernel, notebook_db)
        await notebook_store_is_read_and_decided_in(jp_fetch, {"kernel": kernel}, notebook_db, review_db)


async def notebook_store_is_read_and_decided_in(
    jp_fetch: Any, ours: dict[str, str], notebook_db: str, review_db: str
) -> None:
    _, plan = await fetch_json(jp_fetch, "plan", params=ours)
    assert plan["database"] == {"url": notebook_db, "source": "notebook"}
    _, team = await fetch_json(jp_fetch, "team", params=ours)
    check("TeamReply", team)
    assert (team["available"], team["database"]["url"], team["status"]["plan"]["project"]) == (
        True,
        notebook_db,
        "sales",
    )
    _, queue = await fetch_json(jp_fetch, "reviews", params=ours)
    assert (queue["database"]["source"], len(queue["reviews"])) == ("notebook", 2)
    # Another notebook (a kernel that linked nothing, or none at all) reads the server's database.
    _, server_plan = await fetch_json(jp_fetch, "plan")
    assert server_plan["database"] == {"url": review_db, "source": "server"}
    _, stranger = await fetch_json(jp_fetch, "plan", params={"kernel": "0b6e3c4e-5d1f-4c55-9a38-1f0e8c1b2a77"})
    assert stranger["database"]["source"] == "server"

    draft = queue["reviews"][0]
    decision = {"id": draft["id"], "version": draft["version"], "action": "approve", "database": notebook_db}
    _, result = await fetch_json(jp_fetch, "reviews", decision, params=ours)
    assert result["status"] == "approved"
    assert drafts_decided(notebook_db) == [("ana", "draft.approved")]
    assert drafts_decided(review_db) == []

    # A card listed from the server's database, decided while the notebook's is read: refused.
    other = queue["reviews"][1]
    stale = {"id": other["id"], "version": other["version"], "action": "reject", "database": review_db}
    conflict = await expect_error(jp_fetch, "reviews", 409, stale, params=ours)
    assert conflict["message"].startswith(f"this draft was listed from {review_db}, but the sidebar reads")
    assert conflict["current"] is None
    assert drafts_decided(notebook_db) == [("ana", "draft.approved")] and drafts_decided(review_db) == []


async def test_a_deleted_notebook_database_is_said_quietly_and_not_recreated(
    jp_fetch: Any, jp_serverapp: Any, tmp_path: Path
) -> None:
    notebook_file = tmp_path / "scratch" / "team.db"
    notebook_file.parent.mkdir()
    notebook_db = seed_review_db(notebook_file)
    async with running_kernel(jp_serverapp) as kernel:
        link(jp_serverapp, kernel, notebook_db)
        await deleted_database_is_said_quietly(jp_fetch, {"kernel": kernel}, notebook_file, notebook_db)


async def deleted_database_is_said_quietly(
    jp_fetch: Any, ours: dict[str, str], notebook_file: Path, notebook_db: str
) -> None:
    _, queue = await fetch_json(jp_fetch, "reviews", params=ours)  # opened and cached by the server
    for name in ("team.db", "team.db-wal", "team.db-shm"):
        (notebook_file.parent / name).unlink(missing_ok=True)

    gone = (
        f"The review database this notebook showed here, {notebook_db}, no longer exists (deleted after "
        "the notebook ran?). Call show_in_sidebar(store) with one that does."
    )
    code, plan = await fetch_json(jp_fetch, "plan", params=ours)
    assert (code, plan["available"], plan["message"]) == (200, False, gone)
    code, team = await fetch_json(jp_fetch, "team", params=ours)
    assert (code, team) == (200, {"available": False, "database": plan["database"], "message": gone})
    code, empty = await fetch_json(jp_fetch, "reviews", params=ours)
    assert (code, empty["reviews"]) == (200, [])
    draft = queue["reviews"][0]
    refused = await expect_error(jp_fetch, "reviews", 410, {"id": draft["id"], "action": "approve"}, params=ours)
    assert refused["message"].startswith(f"the review database {notebook_db}, which this notebook showed")
    assert not notebook_file.exists()


async def test_a_kernel_query_that_is_not_a_kernel_id_is_refused(jp_fetch: Any) -> None:
    for path in ("plan", "reviews", "team"):
        error = await expect_error(jp_fetch, path, 400, params={"kernel": "../../etc/passwd"})
        assert error["message"].startswith("'kernel' must be a kernel id (a UUID")


def test_show_in_sidebar_says_where_no_sidebar_follows_and_refuses_a_memory_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a kernel a Jupyter server started (this test, nbclient, coassist demo) a notebook
    that calls it still runs; an in-memory store no other process can open is an error."""
    with open_store(tmp_path / "team.db") as store:
        assert show_in_sidebar(store) is False
    assert capsys.readouterr().out == f"No JupyterLab started this kernel, so no sidebar shows sqlite:///{tmp_path / 'team.db'}.\n"
    with open_store("sqlite://") as memory, pytest.raises(InvalidOption, match="in-memory database lives only in this kernel"):
        show_in_sidebar(memory)


def test_the_server_untracks_subshell_requests(jp_serverapp: Any) -> None:
    """JupyterLab shows the status of untracked messages' requests nowhere: a subshell opened for a
    widget no longer shows the kernel "idle" while a cell runs (the browser test sees the bar)."""
    assert set(SUBSHELL_MESSAGE_TYPES) <= set(jp_serverapp.kernel_manager.untracked_message_types)
    assert "execute_request" not in jp_serverapp.kernel_manager.untracked_message_types


class TestAnEmptyServerDatabase:
    @pytest.fixture
    def jp_server_config(self, tiny_model_dir: Path, tmp_path: Path) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"coassist": True}},
            "CoassistServer": {"model": str(tiny_model_dir), "db_url": f"sqlite:///{tmp_path / 'empty.db'}"},
        }

    async def test_says_which_database_and_how_to_fill_it_with_200s(self, jp_fetch: Any, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path / 'empty.db'}"
        code, plan = await fetch_json(jp_fetch, "plan")
        assert (code, plan["available"], plan["database"]) == (200, False, {"url": url, "source": "server"})
        assert plan["message"] == (
            f"No plan yet in the server's review database, {url}. Fill it from a notebook: "
            f"import_plan(open_store('{url}'), tasks, team, plan). Or show a notebook's own store here "
            "with show_in_sidebar(store), as examples/team_agent.ipynb does."
        )
        code, team = await fetch_json(jp_fetch, "team")
        check("TeamReply", team)
        assert (code, team["available"], team["message"]) == (
            200,
            False,
            "No plan in this database yet, so there is no team to follow.",
        )
        # An explicit plan id the database lacks is still an error.
        missing = await expect_error(jp_fetch, "team", 404, params={"plan": "3"})
        assert "no plan 3" in missing["message"]


class TestATokenOnlyServer:
    """Jupyter's own identity provider: every token-authenticated browser is an anonymous random id."""

    @pytest.fixture
    def jp_server_config(self, tiny_model_dir: Path, review_db: str) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"coassist": True}},
            "CoassistServer": {"model": str(tiny_model_dir), "db_url": review_db},
        }

    async def test_decisions_carry_the_name_the_person_gave(self, jp_fetch: Any, review_db: str) -> None:
        _, queue = await fetch_json(jp_fetch, "reviews")
        assert queue["decided_as"] is None
        e, a = queue["reviews"]
        unnamed = await expect_error(jp_fetch, "reviews", 400, {"id": a["id"], "action": "approve"})
        assert "cannot tell who you are" in unnamed["message"]
        assert "Settings > coassist > Reviewer name" in unnamed["message"]
        assert "c.CoassistServer.reviewer_name" in unnamed["message"]
        assert drafts_decided(review_db) == []
        _, named = await fetch_json(jp_fetch, "reviews", {"id": a["id"], "action": "approve", "reviewer": " ana "})
        assert named["decided_by"] == "ana"
        assert drafts_decided(review_db) == [("ana", "draft.approved")]
        with open_store(review_db) as store:
            assert [item.subtask for item in review_queue(store)] == [e["subtask"]]


class TestAConfiguredReviewerName:
    @pytest.fixture
    def jp_server_config(self, tiny_model_dir: Path, review_db: str) -> dict[str, Any]:
        return {
            "ServerApp": {"jpserver_extensions": {"coassist": True}},
            "CoassistServer": {"model": str(tiny_model_dir), "db_url": review_db, "reviewer_name": "lead"},
        }

    async def test_wins_over_the_name_in_the_body(self, jp_fetch: Any, review_db: str) -> None:
        _, queue = await fetch_json(jp_fetch, "reviews")
        assert queue["decided_as"] == "lead"
        draft = queue["reviews"][0]
        _, result = await fetch_json(jp_fetch, "reviews", {"id": draft["id"], "action": "reject", "reviewer": "mallory"})
        assert result["decided_by"] == "lead"
        assert drafts_decided(review_db) == [("lead", "draft.rejected")]
