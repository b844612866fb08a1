"""Fixtures for the sandbox tests: patched moto in-process (`mock_aws`) and as a local server."""

from __future__ import annotations

import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from esmctl.sandbox import SandboxControl, SandboxServer, apply_patches, control, start_server

REGION = "us-east-2"
ACCOUNT = "123456789012"
FAST = 0.2  # seconds an endpoint stays Creating/Updating in these tests


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region; nothing from the developer's own AWS setup leaks in."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_SESSION_TOKEN",
                 "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")


@pytest.fixture
def ctl() -> Iterator[SandboxControl]:
    """The patched sandbox with fast endpoints and no eventual-consistency delays or rate limits
    (`control.immediate()`); limits stay enforced. `control` is reset afterwards."""
    apply_patches()
    control.reset()
    control.creating_seconds = FAST
    control.immediate()  # the tests of those behaviours (test_sandbox_aws_behaviour.py) turn them back on
    yield control
    control.reset()


class FrozenClock:
    """The sandbox's clock, standing still until the test moves it: `advance(seconds)`.

    The sandbox times AWS's delays (a new role, key, endpoint config, a deleted secret) and endpoint
    transitions with `time.monotonic()` in _consistency.py, _sagemaker.py and control.py; the
    `sandbox_clock` fixture puts this in place of those modules' `time`. "Refused at first" then
    holds however slow the machine is, and "accepted later" needs no waiting.
    """

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def sandbox_clock(ctl: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    clock = FrozenClock()
    for module in ("_consistency", "_sagemaker", "control"):  # `esmctl.sandbox.control` is the object
        monkeypatch.setattr(sys.modules[f"esmctl.sandbox.{module}"], "time", clock)
    return clock


@pytest.fixture(scope="session")
def boto_session() -> boto3.Session:
    """One boto3 session for all tests: it caches botocore's service models (~0.1 s a client).

    Created after moto is imported, so moto's request hook is registered on it.
    """
    apply_patches()
    import moto  # noqa: F401

    return boto3.Session(region_name=REGION)


@pytest.fixture
def mocked(ctl: SandboxControl) -> Iterator[SandboxControl]:
    import moto

    with moto.mock_aws():
        yield ctl


@pytest.fixture
def sm(mocked: SandboxControl, boto_session: boto3.Session) -> Any:
    return boto_session.client("sagemaker")


@pytest.fixture
def runtime(mocked: SandboxControl, boto_session: boto3.Session) -> Any:
    return boto_session.client("sagemaker-runtime")


@pytest.fixture
def iam(mocked: SandboxControl, boto_session: boto3.Session) -> Any:
    return boto_session.client("iam")


@pytest.fixture(scope="session")
def server() -> Iterator[SandboxServer]:
    srv = start_server()
    yield srv
    srv.stop()


@pytest.fixture
def served(server: SandboxServer, ctl: SandboxControl, boto_session: boto3.Session) -> Iterator[Callable[..., Any]]:
    """A factory of boto3 clients talking to a freshly reset sandbox server."""
    _post(server.url + "/moto-api/reset", b"")

    def client(service: str, **credentials: str) -> Any:
        credentials = credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        return boto_session.client(service, endpoint_url=server.url, **credentials)

    yield client
    _post(server.url + "/moto-api/reset-auth", b"inf")
    _post(server.url + "/moto-api/reset", b"")


def _post(url: str, data: bytes) -> bytes:
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())
