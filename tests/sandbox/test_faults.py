"""Seeded fault injection (faults.SeededFaults): the same seed injects the same faults, whichever of the
server's threads serves a request first."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from esmctl.sandbox import SandboxControl
from esmctl.sandbox.faults import RESET, FaultError, RequestInfo, SeededFaults

FAULTS: list[FaultError | str] = [FaultError(500, "InternalFailure"), FaultError(503, "ServiceUnavailable"), RESET]
REQUESTS = [RequestInfo("sagemaker", op, op.startswith("Create"), True)
            for op in ("CreateModel", "DescribeEndpoint", "ListEndpoints") for _ in range(40)]


def _feed(hook: SeededFaults, requests: list[RequestInfo], threads: int) -> None:
    """Send `requests` through `hook` from `threads` threads, all released at once."""
    start = threading.Barrier(threads)
    chunks = [requests[i::threads] for i in range(threads)]

    def send(chunk: list[RequestInfo]) -> None:
        start.wait()
        for req in chunk:
            hook(req)

    workers = [threading.Thread(target=send, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_same_seed_same_faults_whatever_the_order() -> None:
    sequential = SeededFaults(7, 0.3, FAULTS)
    for req in REQUESTS:
        sequential(req)
    shuffled = SeededFaults(7, 0.3, FAULTS)
    for req in random.Random(1).sample(REQUESTS, len(REQUESTS)):
        shuffled(req)
    threaded = SeededFaults(7, 0.3, FAULTS)
    _feed(threaded, random.Random(2).sample(REQUESTS, len(REQUESTS)), threads=8)

    assert sequential.injected, "a 30% rate over 120 requests injects something"
    assert shuffled.decisions == sequential.decisions
    assert threaded.decisions == sequential.decisions
    assert sorted(threaded.injected) == sorted(sequential.injected)
    # about the asked share, and every kind of fault is used
    share = len(sequential.injected) / len(REQUESTS)
    assert 0.15 < share < 0.45, share
    kinds = {d if isinstance(d, str) else d.code for ds in sequential.decisions.values() for d in ds if d}
    assert kinds == {"InternalFailure", "ServiceUnavailable", RESET}


def test_another_seed_other_faults_and_the_pick_is_honoured() -> None:
    one, two = SeededFaults(1, 0.3, FAULTS), SeededFaults(2, 0.3, FAULTS)
    for req in REQUESTS:
        one(req)
        two(req)
    assert one.decisions != two.decisions
    others = SeededFaults(1, 1.0, FAULTS)  # picks esmctl's requests only, by default
    assert others(RequestInfo("sagemaker", "CreateModel", True, from_esmctl=False)) is None
    assert others.decisions == {}
    with pytest.raises(ValueError):
        SeededFaults(1, 1.5, FAULTS)


def test_same_seed_same_faults_through_the_threaded_server(served: Callable[..., Any], server: Any,
                                                          ctl: SandboxControl, boto_session: Any) -> None:
    """Two runs of 60 requests from 6 client threads against the sandbox server: each request's
    answer (by operation and its number) is the same in both runs, and is what the client got."""

    def one_run() -> tuple[SeededFaults, dict[str, int]]:
        hook = SeededFaults(11, 0.4, [FaultError(500, "InternalFailure")], pick=lambda req: True)
        ctl.request_hook = hook
        sm = boto_session.client("sagemaker", endpoint_url=server.url, aws_access_key_id="testing",
                                 aws_secret_access_key="testing",
                                 config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))
        calls = [sm.list_endpoints, sm.list_models] * 30
        failed = {"ListEndpoints": 0, "ListModels": 0}
        lock = threading.Lock()

        def call(fn: Callable[[], Any]) -> None:
            try:
                fn()
            except ClientError as error:
                assert error.response["Error"]["Code"] == "InternalFailure"
                with lock:
                    failed[error.operation_name] += 1

        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(call, calls))
        ctl.request_hook = None
        return hook, failed

    first, failed_first = one_run()
    second, failed_second = one_run()
    assert first.decisions == second.decisions
    assert sum(failed_first.values()) > 0
    for (_, operation), decisions in first.decisions.items():
        assert len(decisions) == 30
        assert failed_first[operation] == failed_second[operation] == sum(d is not None for d in decisions)


@pytest.mark.parametrize(("method", "path", "query", "operation"), [
    ("PUT", "/team-state/esmctl/dev.lock", "", "PutObject"),
    ("GET", "/team-state/esmctl/dev.json", "", "GetObject"),
    ("DELETE", "/team-state/esmctl/dev.lock", "", "DeleteObject"),
    ("HEAD", "/team-state/esmctl/dev.json", "", "HeadObject"),
    ("GET", "/team-state", "versioning", "GetBucketVersioning"),
    ("GET", "/team-state", "versions&prefix=esmctl", "ListObjectVersions"),
    ("GET", "/team-state", "list-type=2&prefix=esmctl", "ListObjectsV2"),
    ("PUT", "/team-state", "", "CreateBucket"),
    ("POST", "/team-state", "delete", "DeleteObjects"),
    ("GET", "/", "", "ListBuckets"),
])
def test_s3_requests_are_named_by_their_api_operation(method: str, path: str, query: str, operation: str) -> None:
    """What a request hook sees as `RequestInfo.operation` for S3 (path-style, as with an IP endpoint)."""
    from esmctl.sandbox.faults import MUTATING, _operation

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-2/s3/aws4_request, ..."}
    assert _operation(environ, b"") == ("s3", operation)
    assert bool(MUTATING.match(operation)) == (method in ("PUT", "POST", "DELETE"))
