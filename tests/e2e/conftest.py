"""End-to-end fixtures: a sandbox server (patched moto) in this process, the real `esmctl`
command run as a subprocess against it, and boto3 clients to check what it made."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
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

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ESMCTL_"))}
        env.update({
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": self.url,
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "ESMCTL_POLL_INTERVAL": "0.05", "NO_COLOR": "1", "COLUMNS": "200",
        })
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
