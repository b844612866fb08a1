"""Shared fixtures: example folders on disk; no AWS credentials ever reach a real endpoint."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "esmctl" / "examples"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no profile, so nothing can sign a request for a real account."""
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "ESMCTL_CONFIG", "ESMCTL_STATE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/esmctl-test-aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/esmctl-test-aws-credentials")
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent/esmctl-test-cache")  # no `prices refresh` cache


def write_example(folder: Path, example: str = "basic") -> Path:
    """esmctl.yaml (from the example) and models.yaml in `folder`; returns the esmctl.yaml path."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / f"{example}.yaml", folder / "esmctl.yaml")
    shutil.copy(EXAMPLES / "models.yaml", folder / "models.yaml")
    return folder / "esmctl.yaml"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_example(tmp_path, "multi_model")
    return tmp_path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests first (the kill suite, then the other end-to-end tests), so that with `-n 4` they
    start at once and the workers finish together instead of one working through a tail of them
    while the others idle (with `--dist worksteal`, set in pyproject.toml)."""
    def rank(item: pytest.Item) -> int:
        return 0 if item.get_closest_marker("kill") else 1 if item.get_closest_marker("e2e") else 2
    items.sort(key=rank)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many kill points the kill-at-every-step suite tried (see docs/reliability.md)."""
    reports = terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", [])
    points = [(r.nodeid, v) for r in reports for k, v in getattr(r, "user_properties", []) if k == "kill_points"]
    if points:
        total = sum(int(v) for _, v in points)
        terminalreporter.write_line(f"kill points tried: {total} in {len(points)} kill-suite tests "
                                    "(SIGKILL before/after every mutating AWS call; each rerun converged)")


def eventually(call: Callable[[], Any], timeout: float = 10.0) -> Any:
    """`call()` once it stops raising ClientError: AWS (and so the sandbox) shows what was just made
    only after a moment (docs/aws-behaviour.md). Polls every 0.05 s; gives up after `timeout`."""
    import time

    from botocore.exceptions import ClientError

    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
