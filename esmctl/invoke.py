"""Smoke-test stage: one Forge `encode` request to a deployment's endpoint (`esmctl invoke`,
`esmctl deploy --smoke`).

The request is exactly what the `esm` SDK's SageMaker client sends for `encode`
(`ESM3SageMakerClient(endpoint, model).encode(ESMProtein(sequence=...))`, esm 3.2.1 to 3.3.0): the
Forge request of `ESM3ForgeInferenceClient._process_encode_request` wrapped by
`ESM3SageMakerClient._post` as `{"model", "request_id", "user_id", "api_ver", "endpoint", "encode":
...}`, posted with `sagemaker-runtime:InvokeEndpoint`, ContentType application/json, CustomAttributes
`return_bytes=false` and no Accept header. The answer is checked as strictly as the SDK reads it:
every key it reads with `data[...]` must be there (ENCODE_READS), else the user's notebook would
fail with a KeyError, and the token ids must be BOS, one per residue, EOS. Reads the state; changes
nothing. Configuration, state and AWS session come in as arguments: nothing here knows `esmctl.api`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from esmctl import errors
from esmctl.errors import AwsError, EsmctlError, InvokeFailed, NotFound
from esmctl.vocab import BOS, EOS, SEQUENCE_ALPHABET

if TYPE_CHECKING:
    from esmctl.aws import Aws, Runtime
    from esmctl.config import Config
    from esmctl.state import State

API = "encode"
CONTENT_TYPE = "application/json"
# ESM3SageMakerClient._post (esm/sdk/sagemaker.py, 3.2.1 to 3.3.0): return_bytes defaults to False.
CUSTOM_ATTRIBUTES = "return_bytes=false"
# What the SDK reads from the `encode` answer with data[...] (a missing key is a KeyError in the
# user's notebook): (path, the esm versions that read it, where). ESM3SageMakerClient.encode runs
# ESM3ForgeInferenceClient's parser. "3.3.0" is Biohub/esm main (b6b0e88): the newest source read here;
# PyPI's 3.4.x was not reachable from this project's machines.
ENCODE_READS: tuple[tuple[tuple[str, ...], str, str], ...] = (
    (("endpoint",), "3.2.1 and later", "esm/sdk/sagemaker.py:114 ESM3SageMakerClient._post"),
    (("encode",), "3.2.1 and later", "esm/sdk/sagemaker.py:117 ESM3SageMakerClient._post"),
    *((("encode", "outputs", key), "3.2.1 and later",
       "esm/sdk/forge.py ESM3ForgeInferenceClient._process_encode_response (3.2.1: lines 554-565)")
      for key in ("sequence", "structure", "coordinates", "secondary_structure", "sasa", "function",
                  "residue_annotation")),
    (("encode", "potential_sequence_of_concern"), "3.3.0 (Biohub/esm main) and later",
     "esm/sdk/forge.py:713 ESM3ForgeInferenceClient._process_encode_response (Biohub/esm main)"),
)
# Human ubiquitin (UniProt P0CG48, one 76-residue repeat): short, real and well known.
DEFAULT_SEQUENCE = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"
ACCESS_CODES = errors.ACCESS_CODES | errors.CallFailed.FRESH_KEY  # the shared key may not, or not yet
PREVIEW = 120  # characters of a bad answer quoted in the error


def envelope(forge_model: str, sequence: str) -> dict[str, Any]:
    """The Forge `encode` request for `sequence`, wrapped for a SageMaker endpoint, key for key as
    the SDK builds it: esm/sdk/forge.py ESM3ForgeInferenceClient._process_encode_request (tracks
    sequence, secondary_structure, sasa, coordinates; null for a sequence-only ESMProtein), then
    esm/sdk/sagemaker.py ESM3SageMakerClient._post (adds potential_sequence_of_concern, the
    ESMProtein's default False, and wraps the request)."""
    return wrap(API, {"inputs": {"sequence": sequence, "secondary_structure": None, "sasa": None, "coordinates": None},
                      "model": forge_model})


def wrap(api: str, request: dict[str, Any]) -> dict[str, Any]:
    """A Forge request as the SDK's SageMaker client posts it (esm/sdk/sagemaker.py,
    ESM3SageMakerClient._post): potential_sequence_of_concern set (default False), then wrapped."""
    request = {**request, "potential_sequence_of_concern": bool(request.get("potential_sequence_of_concern", False))}
    return {"model": request.get("model"), "request_id": "", "user_id": "", "api_ver": "v1", "endpoint": api,
            api: request}


def request_body(forge_model: str, sequence: str) -> bytes:
    return json.dumps(envelope(forge_model, sequence)).encode()


class EndpointNotRunning(InvokeFailed):
    """The deployment is stopped, not deployed yet, or has no endpoint running."""


@dataclass
class Target:
    """A deployment's endpoint to call, from the state, and how big it is."""

    endpoint_name: str
    forge_model: str
    deployment: str = ""
    instances: int = 1


def find_target(name: str, *, config: Config, state: State | None) -> Target:
    """The running endpoint of deployment `name`; EndpointNotRunning (naming `esmctl start`) when
    it is stopped or has none, EsmctlError for an unknown name."""
    dep = state.deployments.get(name) if state else None
    if dep is None:
        known = sorted(set(config.deployments) | set(state.deployments if state else {}))
        if name not in known:
            raise EsmctlError(f"Unknown deployment: {name}.",
                              hint=f"Known: {', '.join(known) or '(none)'} (the keys of selected_models).")
        raise EndpointNotRunning(f"{name} has not been deployed yet.", hint="Run `esmctl deploy`.")
    if dep.desired == "stopped":
        raise EndpointNotRunning(f"{name} is stopped: its endpoint was deleted so that it is not billed.",
                                 hint=f"start it with `esmctl start {name}`, then call it again "
                                 "(`esmctl embed --start` starts it for a run).")
    if dep.endpoint is None or not dep.endpoint.created:
        raise EndpointNotRunning(f"{name} has no endpoint running.",
                                 hint=f"start it with `esmctl start {name}` (or run `esmctl deploy` if its deploy "
                                 "did not finish).")
    cfg = dep.endpoint_config
    return Target(endpoint_name=dep.endpoint.name, forge_model=dep.forge_model_name, deployment=name,
                  instances=int(cfg.instance_count or 1) if cfg else 1)


@dataclass(frozen=True)
class InvokeResult:
    """What one smoke test saw."""

    deployment: str
    endpoint_name: str
    forge_model_name: str
    sequence_length: int
    latency_ms: float
    request_bytes: int
    response_bytes: int
    content_type: str
    token_count: int | None  # tokens in the answer (residues + begin/end), when it has them
    as_shared_user: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def parse_answer(raw: bytes, content_type: str, endpoint_name: str, *, sequence: str | None = None
                 ) -> dict[str, Any]:
    """The result under `encode` in the endpoint's answer, checked as the SDK reads it (every key
    of ENCODE_READS; with `sequence`, the token ids of that sequence); InvokeFailed when it is not."""
    logs = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        preview = raw[:PREVIEW].decode("utf-8", "replace")
        raise InvokeFailed(
            f"The endpoint {endpoint_name} answered with something that is not JSON (content type "
            f"{content_type or '?'}, {len(raw)} bytes: {preview!r}).",
            hint="Is it an ESM model endpoint? Check the model package in models.yaml and the container's "
            f"logs in CloudWatch log group {logs}.") from None
    if not isinstance(doc, dict):
        raise InvokeFailed(f"The endpoint {endpoint_name} answered with JSON that is not an object "
                           f"({type(doc).__name__}).", hint=f"Check the container's logs in {logs}.")
    problem = _error_in(doc)
    if problem:
        raise InvokeFailed(f"The model behind {endpoint_name} answered with an error: {problem}",
                           hint=f"Check the sequence (amino-acid letters); the container's logs are in {logs}.")
    if "endpoint" in doc and doc["endpoint"] != API:
        raise InvokeFailed(f"The answer of {endpoint_name} is for Forge endpoint {doc.get('endpoint')!r}, "
                           f"not {API!r} as asked.", hint=f"Is it an ESM model endpoint? Logs: {logs}.")
    for path, versions, where in ENCODE_READS:
        node: Any = doc
        for depth, key in enumerate(path):
            if not isinstance(node, dict):
                raise InvokeFailed(f"The answer of {endpoint_name} has {'.'.join(path[:depth])!r} that is not "
                                   f"an object ({type(node).__name__}).", hint=f"Check the container's logs in {logs}.")
            if key not in node:
                missing = ".".join(path[:depth + 1])
                raise InvokeFailed(
                    f"The answer of {endpoint_name} has no {missing!r}: the esm SDK's SageMaker client "
                    f"would fail with KeyError {key!r} (esm {versions}; {where}).",
                    hint=f"Is the model package a current ESM C release? The container's logs are in {logs}.")
            node = node[key]
    result: dict[str, Any] = doc[API]
    _check_tokens(result["outputs"]["sequence"], sequence, endpoint_name, logs)
    return result


def _check_tokens(tokens: Any, sequence: str | None, endpoint_name: str, logs: str) -> None:
    """`outputs.sequence`: token ids, BOS first and EOS last, one per residue of `sequence` between."""
    hint = f"Is it an ESM model endpoint? The container's logs are in {logs}."
    if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise InvokeFailed(f"The answer of {endpoint_name} has 'encode.outputs.sequence' that is not a list of "
                           f"token ids ({json.dumps(tokens)[:PREVIEW]}).", hint=hint)
    if len(tokens) < 2 or tokens[0] != BOS or tokens[-1] != EOS:
        raise InvokeFailed(f"The token ids in the answer of {endpoint_name} do not start with {BOS} (BOS) and end "
                           f"with {EOS} (EOS): {json.dumps(tokens)[:PREVIEW]}.", hint=hint)
    if sequence is not None and len(tokens) != len(sequence) + 2:
        raise InvokeFailed(f"The answer of {endpoint_name} has {len(tokens)} token ids for {len(sequence)} residues "
                           f"(expected {len(sequence) + 2}: BOS, one per residue, EOS).", hint=hint)


def _error_in(doc: dict[str, Any]) -> str:
    """An error the container put in an otherwise successful answer ({"error": ...}, {"detail": ...})."""
    for key in ("error", "errors", "detail", "message"):
        value = doc.get(key)
        if value and API not in doc:
            return value if isinstance(value, str) else json.dumps(value)[:PREVIEW * 2]
    return ""


def token_count(result: dict[str, Any]) -> int | None:
    tokens = (result.get("outputs") or {}).get("sequence") if isinstance(result.get("outputs"), dict) else None
    return len(tokens) if isinstance(tokens, list) else None


def invoke_endpoint(runtime: Runtime, *, deployment: str, endpoint_name: str, forge_model: str, sequence: str,
                    as_shared_user: bool = False, clock: Callable[[], float] = time.perf_counter) -> InvokeResult:
    """Send the envelope, check the answer, measure the round trip."""
    body = request_body(forge_model, sequence)
    started = clock()
    try:
        raw, content_type = runtime.invoke(endpoint_name, body, content_type=CONTENT_TYPE, accept=None,
                                           custom_attributes=CUSTOM_ATTRIBUTES)
    except NotFound as e:
        raise InvokeFailed(
            f"The endpoint {endpoint_name} of {deployment} does not exist or is not InService ({e.message}).",
            hint=f"`esmctl status {deployment}` shows its status; a Creating endpoint needs a few more minutes; "
            "`esmctl deploy` recreates one that failed or vanished.") from None
    except AwsError as e:
        raise _invoke_error(e, deployment, endpoint_name, as_shared_user) from None
    latency = (clock() - started) * 1000
    result = parse_answer(raw, content_type, endpoint_name, sequence=sequence)
    return InvokeResult(deployment=deployment, endpoint_name=endpoint_name, forge_model_name=forge_model,
                        sequence_length=len(sequence), latency_ms=round(latency, 1), request_bytes=len(body),
                        response_bytes=len(raw), content_type=content_type, token_count=token_count(result),
                        as_shared_user=as_shared_user)


def _invoke_error(e: AwsError, deployment: str, endpoint_name: str, as_shared_user: bool) -> EsmctlError:
    logs = f"/aws/sagemaker/Endpoints/{endpoint_name}"
    if e.code == "ModelError":
        return InvokeFailed(f"The model behind {endpoint_name} refused the request: {e.message}",
                            hint="Check the sequence (amino-acid letters, at most 2048); the container's logs "
                            f"are in CloudWatch log group {logs}.", details=e.details)
    if as_shared_user and e.code in ACCESS_CODES:
        return InvokeFailed(
            f"The shared service account may not invoke {endpoint_name} ({e.code}).",
            hint="Its policy lists this environment's endpoints: run `esmctl deploy` to bring it up to date "
            "(IAM takes a few seconds to apply a change); `esmctl creds` shows the key in use.",
            details=e.details)
    return e


def check_sequence(sequence: str) -> str:
    """The sequence to send: whitespace removed, upper case; InvokeFailed when empty or when it
    holds anything but amino-acid letters and ESM's special tokens."""
    cleaned = "".join(sequence.split()).upper()
    hint = ("Pass one-letter amino-acid codes (ACDEFGHIKLMNPQRSTVWY; X for unknown, _ to mask a position), "
            "e.g. --sequence MKTAYIAK.")
    if not cleaned:
        raise InvokeFailed("The sequence is empty.", hint=hint)
    bad = sorted({c for c in cleaned if c not in SEQUENCE_ALPHABET})
    if bad:
        raise InvokeFailed(f"The sequence holds characters that are not amino-acid letters: {''.join(bad)!r}.",
                           hint=hint)
    return cleaned


def invoke_deployment(name: str, *, config: Config, read_state: Callable[[], State | None],
                      connect: Callable[[], Aws], shared_key: Callable[[], dict[str, Any]] | None = None,
                      sequence: str | None = None) -> InvokeResult:
    """`esmctl invoke NAME`: the deployment's endpoint from the state, stopped ones refused.

    Read on demand, in this order, so a bad sequence or name is refused before anything is read:
    `read_state()` the state, `connect()` the AWS session, `shared_key()` the shared service
    account's key (`creds --reveal`'s document; given only to sign the request with it).
    """
    seq = check_sequence(sequence if sequence is not None else DEFAULT_SEQUENCE)
    target = find_target(name, config=config, state=read_state())
    aws = connect()
    if shared_key is not None:
        creds = shared_key()
        aws = aws.with_credentials(creds["aws_access_key_id"], creds["aws_secret_access_key"],
                                   fresh=just_created(creds.get("created")))
    return invoke_endpoint(aws.runtime, deployment=name, endpoint_name=target.endpoint_name,
                           forge_model=target.forge_model, sequence=seq, as_shared_user=shared_key is not None)


def just_created(created: Any) -> bool:
    """A key made in the last few minutes may still be refused while IAM propagates it (retried)."""
    import datetime as dt

    from esmctl.aws.consistency import MAX_WAIT
    from esmctl.state import parse_iso, utcnow

    when = parse_iso(created) if isinstance(created, str) else None
    return when is not None and utcnow() - when < dt.timedelta(seconds=2 * MAX_WAIT)


@dataclass(frozen=True)
class SmokeResult:
    deployment: str
    result: InvokeResult | None
    error: EsmctlError | None

    def to_json(self) -> dict[str, Any]:
        if self.result is not None:
            return {"deployment": self.deployment, "ok": True, **self.result.to_json()}
        assert self.error is not None
        return {"deployment": self.deployment, "ok": False, "error": self.error.message, "hint": self.error.hint}


def smoke(names: list[str], *, config: Config, read_state: Callable[[], State | None],
          connect: Callable[[], Aws]) -> list[SmokeResult]:
    """Invoke each named deployment once (as `invoke_deployment`); failures are collected, not raised."""
    out = []
    for name in names:
        try:
            out.append(SmokeResult(name, invoke_deployment(name, config=config, read_state=read_state,
                                                           connect=connect), None))
        except EsmctlError as e:
            out.append(SmokeResult(name, None, e))
    return out
