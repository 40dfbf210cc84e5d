"""After `pip install`, JupyterLab sees the prebuilt extension and the server extension."""

from __future__ import annotations

import subprocess
import sys


def _jupyter(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "jupyter", *args], capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout + result.stderr


def test_labextension_is_installed_prebuilt_and_enabled() -> None:
    listing = _jupyter("labextension", "list")
    line = next((line for line in listing.splitlines() if line.strip().startswith("coassist ")), "")
    assert "enabled" in line and "OK" in line and "(python, coassist)" in line, listing


def test_server_extension_is_enabled_and_loads() -> None:
    listing = _jupyter("server", "extension", "list")
    lines = [line for line in listing.splitlines() if "coassist" in line]
    assert any("enabled" in line for line in lines) and any("OK" in line for line in lines), listing
