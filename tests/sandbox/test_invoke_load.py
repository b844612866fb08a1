"""A sandbox endpoint under load, as a real SageMaker endpoint behaves: slots per instance and
throttling beyond them, the 6 MiB request and response limits, the 60 s limit, injected throttling,
and the record of every call (esmctl/sandbox/_runtime.py cites the source of each error).

No test waits: the model's latency goes through `control.sleep`, replaced here by a recorder or by a
gate the test opens; runtime clients do not retry (botocore would back off for real).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from esmctl import vocab
from esmctl.sandbox import SandboxControl
from esmctl.sandbox.control import DEFAULT_CONCURRENCY_PER_INSTANCE
from tests.sandbox.test_sandbox import ACCOUNT, ENDPOINT, REGION, deploy, wait_status

SLOT = (ACCOUNT, REGION, ENDPOINT)
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def envelope(api: str, request: dict[str, Any]) -> bytes:
    """esm/sdk/sagemaker.py ESM3SageMakerClient._post's wrapping."""
    request = {**request, "potential_sequence_of_concern": False}
    return json.dumps({"model": "esmc-300m-2024-12", "request_id": "", "user_id": "", "api_ver": "v1",
                       "endpoint": api, api: request}).encode()


def encode(sequence: str) -> bytes:
    return envelope("encode", {"inputs": {"sequence": sequence}, "model": "esmc-300m-2024-12"})


def logits(sequence: str, **config: Any) -> bytes:
    return envelope("logits", {"model": "esmc-300m-2024-12", "inputs": {"sequence": vocab.tokenize(sequence)},
                               "logits_config": config})


def call(rt: Any, body: bytes) -> bytes:
    return bytes(rt.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=body)["Body"].read())


def refused(rt: Any, body: bytes) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        call(rt, body)
    r = info.value.response
    return {"code": r["Error"]["Code"], "status": r["ResponseMetadata"]["HTTPStatusCode"],
            "message": r["Error"]["Message"], "original": r.get("OriginalStatusCode")}


class Gate:
    """`control.sleep` for tests of concurrency: each call notes its seconds, says it has started,
    and holds its slot until the test opens the gate (the timeouts only stop a broken test)."""

    def __init__(self) -> None:
        self.started = threading.Semaphore(0)
        self.opened = threading.Event()
        self.slept: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.started.release()
        assert self.opened.wait(30), "the test never opened the gate"

    def wait_started(self, n: int) -> None:
        for _ in range(n):
            assert self.started.acquire(timeout=30), "a call never reached the model"


@pytest.fixture
def rt(mocked: SandboxControl, boto_session: boto3.Session) -> Any:
    """A sagemaker-runtime client that does not retry: each refusal comes back as it is."""
    return boto_session.client("sagemaker-runtime", config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def live(sm: Any, mocked: SandboxControl) -> Iterator[list[float]]:
    """One InService endpoint of one instance; the model's waits are recorded, not slept."""
    mocked.creating_seconds = 0
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    slept: list[float] = []
    mocked.sleep = slept.append
    yield slept


def in_threads(n: int, rt: Any, body: bytes) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = []

    def one() -> None:
        try:
            results.append(call(rt, body))
        except ClientError as e:
            results.append(e.response["Error"]["Code"])

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, results


# ---------------------------------------------------------------------------------------------
# The load model alone (control.py, no moto)


def test_slots_per_instance() -> None:
    ctl = SandboxControl()
    assert ctl.concurrency_per_instance == DEFAULT_CONCURRENCY_PER_INSTANCE == 4
    ctl.concurrency_per_instance = 2
    assert [ctl.take_slot(SLOT, 2) for _ in range(5)] == [True, True, True, True, False]  # 2 instances × 2
    ctl.release_slot(SLOT)
    assert ctl.busy_slots(SLOT) == 3 and ctl.take_slot(SLOT, 2) and not ctl.take_slot(SLOT, 2)
    assert ctl.take_slot(("other",), 1)  # each endpoint has its own
    ctl.concurrency_per_instance = 0  # no limit
    assert all(ctl.take_slot(SLOT, 1) for _ in range(100))
    ctl.reset()
    assert ctl.busy_slots(SLOT) == 0
    ctl.release_slot(SLOT)  # a call that ends after a reset
    assert ctl.busy_slots(SLOT) == 0


def test_latency_defaults_env_and_immediate(monkeypatch: pytest.MonkeyPatch) -> None:
    ctl = SandboxControl()
    assert ctl.invocation_seconds("encode", 302) == pytest.approx(0.05)
    assert ctl.invocation_seconds("logits", 302) == pytest.approx(0.05 + 0.0002 * 302)
    monkeypatch.setenv("ESMCTL_SANDBOX_INVOKE_BASE_SECONDS", "0.5")
    monkeypatch.setenv("ESMCTL_SANDBOX_INVOKE_SECONDS_PER_TOKEN", "0.01")
    monkeypatch.setenv("ESMCTL_SANDBOX_CONCURRENCY_PER_INSTANCE", "1")
    monkeypatch.setenv("ESMCTL_SANDBOX_INVOKE_THROTTLE_RATE", "0.25")
    monkeypatch.setenv("ESMCTL_SANDBOX_INVOKE_THROTTLE_SEED", "9")
    ctl.reset()
    assert ctl.invocation_seconds("logits", 100) == pytest.approx(1.5)
    assert (ctl.concurrency_per_instance, ctl.invoke_throttle_rate, ctl.invoke_throttle_seed) == (1, 0.25, 9)
    ctl.immediate()
    assert ctl.invocation_seconds("logits", 2050) == 0 and ctl.invoke_throttle_rate == 0
    assert ctl.concurrency_per_instance == 1  # a limit, not a delay: it stays
    monkeypatch.setenv("ESMCTL_SANDBOX_INVOKE_THROTTLE_RATE", "1.5")
    with pytest.raises(ValueError, match="ESMCTL_SANDBOX_INVOKE_THROTTLE_RATE"):
        ctl.reset()


def test_throttle_decisions_do_not_depend_on_the_order() -> None:
    bodies = [encode(PROTEIN[:n]) for n in range(1, 33)] * 2  # each sent twice: the retry is decided afresh

    def throttled(order: list[bytes], seed: int) -> Counter[bytes]:
        ctl = SandboxControl()
        ctl.invoke_throttle_rate, ctl.invoke_throttle_seed = 0.3, seed
        return Counter(b for b in order if ctl.throttle_invocation(ENDPOINT, b))

    forward = throttled(bodies, 7)
    assert forward == throttled(bodies[::-1], 7)
    assert 0.1 < sum(forward.values()) / len(bodies) < 0.5
    assert forward != throttled(bodies, 8)
    assert not throttled(bodies, 7) - Counter(bodies)  # never more than sent
    assert any(n == 1 for n in forward.values())  # some first attempts refused, their retry not (or vice versa)


# ---------------------------------------------------------------------------------------------
# Through SageMaker Runtime (moto in-process, patched)


def test_a_busy_endpoint_throttles_at_once(sm: Any, rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    mocked.concurrency_per_instance = 2
    gate = Gate()
    mocked.sleep = gate
    threads, results = in_threads(2, rt, encode(PROTEIN))
    gate.wait_started(2)  # both slots of the one instance are held
    assert refused(rt, encode(PROTEIN)) == {"code": "ThrottlingException", "status": 400, "message": None,
                                            "original": None}
    gate.opened.set()
    for t in threads:
        t.join(30)
    assert len(results) == 2 and all(isinstance(r, bytes) for r in results)
    assert json.loads(call(rt, encode(PROTEIN)))["encode"]["outputs"]["sequence"] == vocab.tokenize(PROTEIN)
    outcomes = [i.outcome for i in mocked.invocations()]
    assert outcomes[0] == "ThrottlingException" and Counter(outcomes) == {"ok": 3, "ThrottlingException": 1}
    assert mocked.busy_slots(SLOT) == 0


def test_capacity_is_instances_times_concurrency(sm: Any, rt: Any, mocked: SandboxControl) -> None:
    mocked.creating_seconds = 0
    deploy(sm, count=3)  # InitialInstanceCount 3
    wait_status(sm, ENDPOINT, "InService")
    mocked.concurrency_per_instance = 1
    gate = Gate()
    mocked.sleep = gate
    threads, results = in_threads(3, rt, encode(PROTEIN))
    gate.wait_started(3)
    assert refused(rt, encode(PROTEIN))["code"] == "ThrottlingException"
    gate.opened.set()
    for t in threads:
        t.join(30)
    assert all(isinstance(r, bytes) for r in results) and len(results) == 3


def test_a_refused_request_frees_its_slot(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    mocked.concurrency_per_instance = 1
    for _ in range(3):
        assert refused(rt, logits(PROTEIN, ith_hidden_layer=99))["code"] == "ModelError"
    assert mocked.busy_slots(SLOT) == 0
    call(rt, encode(PROTEIN))


def test_latency_is_held_per_call(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    mocked.invoke_base_seconds, mocked.invoke_seconds_per_token = 0.05, 0.0002
    call(rt, encode(PROTEIN))
    call(rt, logits("A" * 300, return_mean_embedding=True))
    assert live == pytest.approx([0.05, 0.05 + 0.0002 * 302])
    assert [i.seconds for i in mocked.invocations()] == pytest.approx(live)


def test_a_call_over_60_seconds_times_out(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    mocked.invoke_base_seconds, mocked.invoke_seconds_per_token = 0.0, 0.03
    call(rt, logits("A" * 1000, return_mean_embedding=True))  # 30.06 s: answered (recorded, not slept)
    error = refused(rt, logits("A" * 2048, return_mean_embedding=True))  # 61.5 s
    assert (error["code"], error["status"], error["original"]) == ("ModelError", 424, 0)
    assert error["message"].startswith(
        'Received server error (0) from primary with message "Your invocation timed out while waiting for a '
        "response from container primary.")
    assert f"/aws/sagemaker/Endpoints/{ENDPOINT} in account {ACCOUNT}" in error["message"]
    assert live == pytest.approx([30.06])  # the timed-out call answered at once
    assert [i.outcome for i in mocked.invocations()] == ["ok", "ModelError"]


def test_request_over_6_mib(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    body = encode(PROTEIN)
    exactly = body[:-1] + b" " * (vocab.INVOKE_MAX_BYTES - len(body)) + body[-1:]  # JSON padded to the limit
    assert len(exactly) == vocab.INVOKE_MAX_BYTES
    assert json.loads(call(rt, exactly))["endpoint"] == "encode"
    error = refused(rt, exactly + b" ")
    assert error == {"code": "413", "status": 413, "message": "HTTP content length exceeded 6291456 bytes.",
                     "original": None}
    assert [i.outcome for i in mocked.invocations()] == ["ok", "413"]


def test_response_over_6_mib(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    # Per-residue embeddings of esmc-300m: ~20 kB a token. 300 residues fit, 330 do not.
    answer = call(rt, logits("A" * 300, return_embeddings=True))
    assert 5_500_000 < len(answer) <= vocab.INVOKE_MAX_BYTES
    for body in (logits("A" * 330, return_embeddings=True),
                 logits(PROTEIN, return_hidden_states=True)):  # all 31 hidden states: far beyond
        error = refused(rt, body)
        assert (error["code"], error["status"], error["original"]) == ("ModelError", 424, 0)
        assert "from primary and could not load the entire response body" in error["message"]
    # What a client does instead: one hidden layer, or the means.
    call(rt, logits(PROTEIN, return_hidden_states=True, ith_hidden_layer=30, return_mean_hidden_states=True))
    assert [i.outcome for i in mocked.invocations()] == ["ok", "ModelError", "ModelError", "ok"]


def test_injected_throttling_rate(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    proteins = [PROTEIN[:n] + "W" * (n % 3) for n in range(1, 31)]

    def run(order: list[str]) -> set[str]:
        mocked.reset()
        mocked.immediate()
        mocked.sleep = live.append
        mocked.invoke_throttle_rate, mocked.invoke_throttle_seed = 0.3, 11
        for p in order:
            try:
                call(rt, encode(p))
            except ClientError as e:
                assert e.response["Error"]["Code"] == "ThrottlingException"
        return {i.sequence for i in mocked.invocations() if i.outcome == "ThrottlingException"}  # type: ignore[misc]

    throttled = run(proteins)
    assert 3 <= len(throttled) <= 15  # about 30 % of 30
    assert run(proteins[::-1]) == throttled  # the same calls, whatever the order
    # A retry is decided afresh: sending each throttled protein again gets most of them through.
    retried = []
    for p in sorted(throttled):
        try:
            call(rt, encode(p))
            retried.append(p)
        except ClientError:
            pass
    assert retried


def test_every_call_is_recorded(rt: Any, mocked: SandboxControl, live: list[float]) -> None:
    other = PROTEIN[::-1]
    call(rt, logits(PROTEIN, return_mean_embedding=True))
    call(rt, logits(PROTEIN, return_mean_embedding=True))
    call(rt, encode(other))
    refused(rt, b"not json")
    with pytest.raises(ClientError):
        rt.invoke_endpoint(EndpointName="Endpoint-Nope", ContentType="application/json", Body=encode(other))
    records = mocked.invocations()
    assert Counter(i.sequence for i in records if i.outcome == "ok") == {PROTEIN: 2, other: 1}
    first = records[0]
    assert (first.endpoint, first.api, first.residues, first.asked, first.outcome) == (
        ENDPOINT, "logits", len(PROTEIN), ("return_mean_embedding",), "ok")
    assert [(i.endpoint, i.api, i.outcome) for i in records[3:]] == [
        (ENDPOINT, None, "ModelError"), ("Endpoint-Nope", "encode", "ValidationError")]
    mocked.invoke_throttle_rate = 0.5
    mocked.reset_invocations()
    assert mocked.invocations() == [] and mocked.invoke_throttle_rate == 0.5  # nothing else changes
    mocked.reset()
    assert mocked.invocations() == [] and mocked.invoke_throttle_rate == 0


def test_the_sandbox_server_answers_the_same(served: Any, ctl: SandboxControl) -> None:
    """Through the sandbox server (HTTP, threaded): the limits and the throttling come back alike."""
    ctl.creating_seconds = 0
    deploy(served("sagemaker"))
    url = served("sagemaker-runtime").meta.endpoint_url  # that client retries; this one does not
    rt = boto3.Session(region_name=REGION).client(
        "sagemaker-runtime", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}))
    wait_status(served("sagemaker"), ENDPOINT, "InService")
    ctl.sleep = lambda seconds: None
    assert refused(rt, b" " * (vocab.INVOKE_MAX_BYTES + 1))["code"] == "413"
    assert refused(rt, logits("A" * 330, return_embeddings=True))["code"] == "ModelError"
    ctl.invoke_throttle_rate = 1.0
    assert refused(rt, encode(PROTEIN)) == {"code": "ThrottlingException", "status": 400, "message": None,
                                            "original": None}
    assert [i.outcome for i in ctl.invocations()] == ["413", "ModelError", "ThrottlingException"]
