"""Shared fixtures: tiny models built in code, and an offline guard for every test."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.postgres import PostgresCluster, throwaway_cluster
from tests.tiny_models import build_tiny_causal_lm

# Tests must pass with no network: never let transformers or huggingface_hub try a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama directory with a ChatML tokenizer (context 256 tokens)."""
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def smollm2_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded model's cache root: `$COASSIST_CACHE` when set, else a session temp dir.

    CI sets COASSIST_CACHE so the 20-second dequantisation happens once per run.
    """
    root = os.environ.get("COASSIST_CACHE")
    return Path(root) if root else tmp_path_factory.mktemp("coassist-cache")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Train tiny models on one thread: they are too small to gain from intra-op threads, and
    on a shared CPU the two threads wait on each other (10x slower measured under load)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def shell(tiny_model_dir: Path):
    """An IPython shell with coassist's magics, a fresh assistant session, and the tiny model."""
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    from coassist.notebook import session as session_module
    from coassist.notebook.magics import register_magics

    start_ipython()  # once per process; later calls return None
    ip = get_ipython()
    old = getattr(ip, session_module._SESSION_ATTRIBUTE, None)
    if old is not None:
        ip.events.unregister("post_run_cell", old.errors)
        ip.configurables.remove(old.config)
        delattr(ip, session_module._SESSION_ATTRIBUTE)
    ip.config.pop("Assist", None)
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        sys.__dict__.pop(name, None)  # a fresh kernel has shown no error yet
    register_magics(ip)
    ip.run_line_magic("config", f'Assist.model = "{tiny_model_dir}"')
    ip.run_line_magic("config", "Assist.max_new_tokens = 8")
    return ip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: they are the slowest, and the rest give faster feedback."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture
def review_db(tmp_path: Path) -> str:
    """A review database holding a small plan and its two ready drafts (see `seed_review_db`)."""
    from tests.test_server_handlers import seed_review_db

    return seed_review_db(tmp_path / "review.db")


@pytest.fixture
def jp_server_config(tiny_model_dir: Path, review_db: str) -> dict[str, Any]:
    """pytest-jupyter's server, with coassist on the tiny model and `review_db`; the user is
    whoever the request's test header names (Jupyter's default makes a new anonymous one each time)."""
    from tests.test_server_handlers import HeaderIdentityProvider

    return {
        "ServerApp": {
            "jpserver_extensions": {"coassist": True},
            "identity_provider_class": HeaderIdentityProvider,
        },
        "CoassistServer": {"model": str(tiny_model_dir), "db_url": review_db, "completion_max_new_tokens": 8},
    }


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL server for the session (tests/postgres.py)."""
    yield from throwaway_cluster()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty review database's URL, once per backend: an SQLite file in `tmp_path`, or a new
    database on the session's PostgreSQL server (dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'review.db'}"
        return
    with request.getfixturevalue("postgres_cluster").database() as url:
        yield url
