"""esmctl.client without AWS: a scripted transport stands in for InvokeEndpoint, a fake clock and
sleeper stand in for time, so retries, deadlines and the concurrency gate are tested without waiting."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from esmctl import client as client_mod
from esmctl.client import CallFailed, Client, EndpointNotRunning
from esmctl.errors import InvokeFailed
from tests.fakes import FakeClock

WIDTH = 960


def answer(request: dict[str, Any]) -> bytes:
    """A minimal, well-formed container answer (shapes as the sandbox's: batch dimension of one)."""
    api = request["endpoint"]
    body = request[api]
    if api == "encode":
        from esmctl import vocab
        result: dict[str, Any] = {"outputs": {"sequence": vocab.tokenize(body["inputs"]["sequence"])},
                                  "potential_sequence_of_concern": False}
    else:
        tokens = body["inputs"]["sequence"]
        cfg = body["logits_config"]
        value = float(sum(tokens) % 97)
        result = {key: None for key in ("logits", "embeddings", "hidden_states", "mean_embedding",
                                        "mean_hidden_state", "sae_outputs")}
        result["logits"] = {}
        if cfg["return_mean_embedding"]:
            result["mean_embedding"] = [[value] * WIDTH]
        if cfg["return_embeddings"]:
            result["embeddings"] = [[[value + i] * WIDTH for i in range(len(tokens))]]
    return json.dumps({"endpoint": api, api: result}).encode()


class Script:
    """A transport answering from `answer`, failing first as scripted: a list of error codes per call."""

    def __init__(self, failures: list[str] | None = None, on_call: Callable[[], None] = lambda: None) -> None:
        self.failures = list(failures or [])
        self.calls = 0
        self.on_call = on_call
        self.lock = threading.Lock()

    def __call__(self, body: bytes, attributes: str) -> bytes:
        assert attributes == "return_bytes=false"
        with self.lock:
            self.calls += 1
            code = self.failures.pop(0) if self.failures else ""
        self.on_call()
        if code:
            raise CallFailed(f"InvokeEndpoint e: {code}: scripted", code=code,
                             retryable=code in client_mod.RETRYABLE)
        return answer(json.loads(body))


def make(transport: Any, clock: FakeClock | None = None, pauses: list[float] | None = None, **kw: Any) -> Client:
    clock = clock or FakeClock()

    def sleep(seconds: float) -> None:
        (pauses if pauses is not None else []).append(seconds)
        clock.sleep(seconds)
    return Client(transport, endpoint_name="esmctl-dev-p-1a2b3c4d", forge_model="esmc-300m-2024-12",
                  deployment="p", sleep=sleep, clock=clock, rnd=lambda: 1.0, **kw)


def test_throttling_and_5xx_are_retried_with_growing_pauses_until_it_passes() -> None:
    pauses: list[float] = []
    script = Script(["ThrottlingException", "ServiceUnavailable", "ModelNotReadyException"])
    c = make(script, pauses=pauses)
    vec = c.embed(["MKTAYIAK"])
    assert isinstance(vec, np.ndarray) and vec.shape == (1, WIDTH) and script.calls == 4 and c.calls == 4
    assert pauses == [0.25, 0.5, 1.0]  # full jitter (rnd=1 here): base × 2^attempt


def test_a_call_gives_up_at_its_deadline_naming_the_cause() -> None:
    clock = FakeClock()
    c = make(Script(["ThrottlingException"] * 100), clock, deadline=30)
    with pytest.raises(CallFailed, match="still failed after .* tries .*ThrottlingException") as e:
        c.logits("MKTAYIAK")
    assert "--concurrency" in e.value.hint
    assert clock.now() <= 30


def test_a_refusal_that_will_not_pass_is_not_retried() -> None:
    script = Script(["ModelError"])
    with pytest.raises(CallFailed, match="ModelError"):
        make(script).logits("MKTAYIAK")
    assert script.calls == 1


def test_a_missing_endpoint_is_named_with_the_way_back() -> None:
    def gone(body: bytes, attributes: str) -> bytes:
        raise CallFailed("InvokeEndpoint e: ValidationError: Endpoint e of account 1 not found.",
                         code="ValidationError")
    with pytest.raises(EndpointNotRunning, match="does not exist or is not InService") as e:
        make(gone).encode("MK")
    assert "esmctl start p" in e.value.hint


@pytest.mark.parametrize("missing", ["embeddings", "hidden_states", "logits"])
def test_an_answer_without_a_key_every_sdk_reads_is_an_error_not_a_keyerror(missing: str) -> None:
    def partial(body: bytes, attributes: str) -> bytes:
        doc = json.loads(answer(json.loads(body)))
        del doc["logits"][missing]
        return json.dumps(doc).encode()
    with pytest.raises(InvokeFailed, match=f"no '{missing}'"):
        make(partial).logits("MKTAYIAK")


def test_an_older_container_without_the_means_works_until_a_mean_is_asked_for() -> None:
    def old(body: bytes, attributes: str) -> bytes:  # a container of the esm 3.2.1 era
        doc = json.loads(answer(json.loads(body)))
        for key in ("mean_embedding", "mean_hidden_state", "sae_outputs"):
            doc.get("logits", {}).pop(key, None)
        doc.get("encode", {}).pop("potential_sequence_of_concern", None)
        return json.dumps(doc).encode()
    c = make(old)
    assert list(c.encode("MK")) == [0, 20, 15, 2]
    assert c.embed(["MK"], per_residue=True)[0].shape == (2, WIDTH)
    with pytest.raises(InvokeFailed, match="without 'mean_embedding', which was asked for") as e:
        c.embed(["MK"])
    assert "--per-residue" in e.value.hint


def test_a_wrong_width_is_caught() -> None:
    c = Client(Script(), endpoint_name="e", forge_model="esmc-600m-2024-12")
    with pytest.raises(InvokeFailed, match="960 wide; esmc-600m is 1152"):
        c.embed(["MK"])


def test_embed_keeps_input_order_and_sends_one_request_per_protein() -> None:
    script = Script()
    c = make(script)
    seqs = ["MK", "MKTAYIAK", "MQ", "MKTAYIAK"]
    out = c.embed(seqs, concurrency=3)
    assert isinstance(out, np.ndarray) and out.shape == (4, WIDTH)
    from esmctl import vocab
    assert [float(row[0]) for row in out] == [float(sum(vocab.tokenize(s)) % 97) for s in seqs]
    assert script.calls == 4


def test_per_residue_rows_drop_bos_and_eos() -> None:
    rows = make(Script()).embed(["MKT"], per_residue=True)
    assert isinstance(rows, list) and rows[0].shape == (3, WIDTH)
    assert [float(r[0]) for r in rows[0]] == [float(sum([0, 20, 15, 11, 2]) % 97) + i for i in (1, 2, 3)]


def test_the_local_tokenizer_is_checked_once_against_the_endpoint() -> None:
    script = Script()
    c = make(script)
    assert c.check_tokenizer("ACDEFGHIKLMNPQRSTVWY") and not c.remote_tokens and script.calls == 1


def test_concurrency_reaches_but_never_exceeds_the_limit() -> None:
    inside, peak = [0], [0]
    lock = threading.Lock()
    three = threading.Barrier(3)  # each call waits until three are inside: a fourth would raise the peak

    def hold() -> None:
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        three.wait(timeout=30)
        with lock:
            inside[0] -= 1

    out = make(Script(on_call=hold)).embed([f"MK{'A' * i}" for i in range(30)], concurrency=3)
    assert len(out) == 30 and peak[0] == 3


def test_throttling_lowers_the_limit_and_successes_raise_it_again() -> None:
    limiter = client_mod.Aimd(8, 8, floor=1)
    seen: list[int] = []
    c = make(Script(["ThrottlingException"] * 20, on_call=lambda: seen.append(limiter.current)))
    done = [key for key, result in c.embed_iter(((i, "MKT" * (i + 1)) for i in range(60)), limiter=limiter)
            if not isinstance(result, Exception)]
    assert sorted(done) == list(range(60)) and limiter.throttled == 20
    assert min(seen) < 8 and seen[-1] > min(seen)


def test_a_transport_failure_of_any_kind_gives_the_slot_back_and_fails_that_protein_only() -> None:
    limiter = client_mod.Aimd(2, 2, floor=2)

    def broken(body: bytes, attributes: str) -> bytes:
        raise RuntimeError("the SSO session expired mid-run")
    results = list(make(broken).embed_iter(((i, "MKT") for i in range(6)), limiter=limiter))
    assert len(results) == 6 and limiter.in_flight == 0  # no slot lost: no hang
    assert all(isinstance(r, CallFailed) and "SSO" in r.message for _, r in results)


def test_a_malformed_answer_is_an_error_not_a_shifted_array() -> None:
    def ragged(body: bytes, attributes: str) -> bytes:
        doc = json.loads(answer(json.loads(body)))
        doc["logits"]["mean_embedding"] = [[1.0, 2.0], [3.0]]
        return json.dumps(doc).encode()
    with pytest.raises(CallFailed, match="could not be read"):
        make(ragged).embed(["MK", "MKT", "MKTA"])


def test_leaving_embed_iter_early_sends_nothing_more() -> None:
    go = threading.Event()
    script = Script(on_call=lambda: script.calls > 1 and go.wait(timeout=30))  # all but the first wait
    limiter = client_mod.Aimd(2, 2, floor=2)
    stream = make(script).embed_iter(((i, "MKT") for i in range(100)), limiter=limiter)
    next(stream)
    stream.close()  # the caller stopped reading (an error, Ctrl-C)
    go.set()
    for t in threading.enumerate():
        if t.name.startswith("esmctl-embed-"):
            t.join(timeout=30)
    assert script.calls <= 3  # the first and the two in flight when it stopped: not 100


def test_embed_refuses_a_bad_sequence_before_calling() -> None:
    script = Script()
    with pytest.raises(InvokeFailed, match="Sequence 1 cannot be embedded: not amino-acid letters"):
        make(script).embed(["MK", "MK1"])
    assert script.calls == 0


def test_an_embed_run_stops_at_the_first_access_denied_instead_of_failing_every_protein(tmp_path: Any) -> None:
    from esmctl.embed import Job

    src = tmp_path / "in.fasta"
    src.write_text("".join(f">p{i}\nMKT{'A' * i}\n" for i in range(200)))
    script = Script(["AccessDeniedException"] * 1000)
    job = Job(make(script), src, tmp_path / "out.npz", concurrency=2)
    job.client.check_tokenizer = lambda probe: True  # type: ignore[method-assign]
    with pytest.raises(CallFailed, match="AccessDeniedException"):
        job.run()
    assert script.calls <= 4  # the two in flight, perhaps two more started meanwhile; not 200
    assert not (tmp_path / "out.npz").exists()


def test_a_per_residue_answer_still_too_large_is_asked_again_in_halves() -> None:
    sent: list[int] = []

    def strict(body: bytes, attributes: str) -> bytes:  # the endpoint prints wider numbers than assumed
        request = json.loads(body)
        tokens = len(request["logits"]["inputs"]["sequence"]) if request["endpoint"] == "logits" else 0
        sent.append(tokens)
        if tokens > 102:
            raise CallFailed("InvokeEndpoint e: ModelError: Received server error (0) from primary and could not "
                             "load the entire response body. See …", code="ModelError")
        return answer(request)

    c = make(strict)
    rows = c.embed(["M" + "ACDEFGHIKLMNPQRSTVWY" * 15], per_residue=True)  # 301 residues: 2 windows of ≤ 266
    assert rows[0].shape == (301, WIDTH)
    assert [n for n in sent if n > 102] == [268, 135]  # refused once at each size: 266 → 133 → 66 residues
    assert all(n == 68 for n in sent[2:])  # then only windows that fit, for the rest of the run too
    sent.clear()
    c.embed(["M" + "A" * 300], per_residue=True)
    assert sent and max(sent) == 68
    with pytest.raises(CallFailed, match="entire response body"):
        c.embed(["M" + "A" * 300])  # a mean answer is small: this refusal is not about size windows
