"""End-to-end fixtures: a sandbox server (patched moto) in this process, the real `esmctl`
command run as a subprocess against it, and boto3 clients to check what it made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import eventually, write_example  # noqa: F401  (re-exported for the e2e tests)

ESMCTL = shutil.which("esmctl") or ""
REGION = "us-east-2"


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Any]:
    import logging

    from esmctl import sandbox as sb

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no log line per request
    server = sb.start_server(port=0)
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: Any) -> Iterator[Any]:
    """A clean account for each test, with endpoints that take a moment to come up."""
    import requests

    from esmctl import sandbox as sb

    requests.post(f"{sandbox_server.url}/moto-api/reset", timeout=10)
    sb.control.reset()
    sb.control.creating_seconds = 0.2
    sb.control.updating_seconds = 0.2
    # AWS's eventual consistency and limits stay on (docs/aws-behaviour.md), with delays short enough
    # for a fast suite; tests about them set their own.
    sb.control.role_propagation_seconds = 0.5
    sb.control.key_propagation_seconds = 0.5
    sb.control.config_lookup_seconds = 0.2
    sb.control.secret_deletion_seconds = 0.5
    yield sb.control
    sb.control.reset()


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@dataclass
class Env:
    folder: Path
    url: str
    extra: dict[str, str] = field(default_factory=dict)  # more environment for every run (ESMCTL_NOW …)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ESMCTL_"))}
        env.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.url,
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "ESMCTL_POLL_INTERVAL": "0.05", "NO_COLOR": "1", "COLUMNS": "200",
        })
        env.update(self.extra)
        return env

    def run(self, *args: str, timeout: float = 120, input: str | None = None,
            env: dict[str, str] | None = None) -> Result:
        cmd = [ESMCTL] if ESMCTL else [sys.executable, "-m", "esmctl"]
        p = subprocess.run([*cmd, *args], cwd=self.folder, env={**self.env(), **(env or {})}, capture_output=True,
                           text=True,
                           timeout=timeout, input=input if input is not None else "")
        return Result(p.returncode, p.stdout, p.stderr)

    def popen(self, *args: str) -> subprocess.Popen[str]:
        cmd = [ESMCTL] if ESMCTL else [sys.executable, "-m", "esmctl"]
        return subprocess.Popen([*cmd, *args], cwd=self.folder, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def example(self, name: str) -> Path:
        return write_example(self.folder, name)

    @property
    def state_file(self) -> Path:
        return self.folder / "state" / "dev.json"

    def state_doc(self) -> dict[str, Any]:
        """The state as esmctl stores it: the local file, or the S3 object `state: s3://...` names."""
        import yaml

        cfg = yaml.safe_load((self.folder / "esmctl.yaml").read_text()) or {}
        url = str(cfg.get("state") or "")
        if url.startswith("s3://"):
            from esmctl.state import parse_s3_url

            loc = parse_s3_url(url)
            key = loc.key(cfg.get("environment", "dev"))
            return json.loads(self.client("s3").get_object(Bucket=loc.bucket, Key=key)["Body"].read())  # type: ignore[no-any-return]
        return json.loads(self.state_file.read_text())  # type: ignore[no-any-return]


def deploy(cli: Env, *extra: str) -> Result:
    """`esmctl deploy --yes` that must succeed."""
    r = cli.run("deploy", "--yes", *extra)
    assert r.code == 0, r.text
    return r


@pytest.fixture
def cli(sandbox: Any, sandbox_server: Any, tmp_path: Path) -> Env:
    return Env(tmp_path, sandbox_server.url)


class AtRequest:
    """A sandbox `request_hook` that marks a point in an esmctl run: the moment the sandbox has
    served `nth` requests (from 1) of `operation` that esmctl sent to `service`. Then, before that
    answer goes back, `then()` runs in the server (e.g. SIGKILL or SIGSTOP the esmctl process) and
    `reached` is set; with `hold=True` the answer then waits until `release` is set. No sleeps:
    tests wait on `reached`, and the run cannot move past that request until the test lets it.
    """

    def __init__(self, service: str, operation: str, nth: int = 1, then: Callable[[], None] = lambda: None,
                 hold: bool = False) -> None:
        self.service, self.operation, self.nth, self.then, self.hold = service, operation, nth, then, hold
        self.reached = threading.Event()
        self.release = threading.Event()
        self._served = 0
        self._lock = threading.Lock()

    def __call__(self, req: Any) -> Any:
        if not (req.from_esmctl and req.service == self.service and req.operation == self.operation):
            return None
        return self._served_one  # called once the request has been served, before it is answered

    def _served_one(self) -> None:
        with self._lock:
            self._served += 1
            if self._served != self.nth:
                return
        try:
            self.then()
        finally:
            self.reached.set()
        if self.hold:
            self.release.wait(timeout=120)

    def wait(self, timeout: float = 60) -> None:
        assert self.reached.wait(timeout), f"esmctl never sent {self.service} {self.operation} #{self.nth}"


class SandboxClock:
    """The clock of the sandbox's endpoint lifecycle, moved on by the test instead of waited for.

    esmctl/sandbox/_sagemaker.py times Creating/Updating/Deleting (and a new endpoint config's lookup
    delay) with `time.monotonic()`; the `sandbox_clock` fixture puts this object in place of that
    module's `time`, so `advance(60)` makes an endpoint created with `creating_seconds = 60` InService
    at once. Everything else (esmctl, IAM's delays) keeps the real clock.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def sandbox_clock(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> SandboxClock:
    from esmctl.sandbox import _sagemaker

    clock = SandboxClock()
    monkeypatch.setattr(_sagemaker, "time", clock)
    return clock


def run_until_waiting_then_advance(cli: Env, clock: SandboxClock, seconds: float, *args: str) -> Result:
    """Run `esmctl *args`; once it says it is waiting for endpoints to be InService, move the sandbox
    clock on by `seconds` (so they come up while it waits). Its stderr is read line by line."""
    p = cli.popen(*args)
    assert p.stderr is not None
    seen: list[str] = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith("Waiting for") and "InService" in line:
            clock.advance(seconds)
            break
    out, rest = p.communicate(timeout=120)
    return Result(p.returncode, out, "".join(seen) + rest)
