"""Calling an ESM C endpoint from Python: `esmctl.connect(...)` → `Client`.

The requests are the ones the `esm` SDK's SageMaker client sends (`esm/sdk/sagemaker.py`,
`ESM3SageMakerClient._post`): a Forge request wrapped as `{"model", "request_id", "user_id",
"api_ver": "v1", "endpoint": API, API: {...}}`, posted with InvokeEndpoint and the custom attribute
`return_bytes=false` (plain JSON lists back). What the SDK's client lacks, this one has:
- retries of throttling, 5xx, ModelNotReady and lost connections, with jittered exponential
  backoff, within a per-call deadline; botocore's own retries are off so that throttling is seen;
- bounded concurrency that adapts to throttling (additive increase, multiplicative decrease);
- local tokenization (`esmctl.vocab`), so one `logits` request per protein is enough;
- numpy arrays without the batch dimension of one: `embeddings` [L, d], `hidden_states`
  [H, L, d], `mean_embedding` [d], `mean_hidden_state` [H, d] (L counts BOS and EOS; H is the
  number of hidden states: layers + 1, or 1 with `layer=`);
- answers checked as the SDK's parsers read them (a missing key is an error here, not a KeyError);
- a clear error for a stopped deployment, and `as_shared_user=True` to sign with the shared key.

Long sequences: one request carries at most `vocab.MAX_RESIDUES` residues, and an answer must stay
under InvokeEndpoint's 6 MiB. `embed` splits what does not fit into overlapping windows (see
`windows`) and joins them: per-residue rows come from the window where the residue is farthest
from an edge; a mean is the residue-weighted mean of the windows' means. Both are approximations
of a whole-sequence pass, which the endpoint cannot give; `Embedding.windows` says how many.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from esmctl import vocab
from esmctl.errors import CallFailed, EsmctlError, InvokeFailed
from esmctl.invoke import EndpointNotRunning, Target, find_target  # noqa: F401  (part of this module's surface)
from esmctl.invoke import wrap as envelope  # the body the SDK's SageMaker client posts

if TYPE_CHECKING:
    pass

RETURN_BYTES = "return_bytes=false"  # the SDK's custom attribute: we parse JSON lists
THROTTLED, RETRYABLE = CallFailed.THROTTLED, CallFailed.RETRYABLE  # see esmctl/errors.py
NOT_RUNNING = "ValidationError"  # "Endpoint X of account N not found."
DEFAULT_DEADLINE = 300.0  # seconds one logical call may take, retries included
BACKOFF_BASE, BACKOFF_CAP = 0.25, 20.0
# A JSON number of the container is about this many bytes (a float32 printed as a Python float,
# with its separator); answers are sized with it to stay under the 6 MiB limit.
BYTES_PER_NUMBER = 22
WINDOW_OVERLAP = 128  # residues two neighbouring windows share
MIN_WINDOW = 64  # residues: windows are never cut smaller
PER_INSTANCE_START, PER_INSTANCE_MAX = 4, 32  # auto concurrency: start and ceiling per instance
MAX_CONCURRENCY = 256  # requests in flight at most, whatever the instance count


@dataclass(frozen=True)
class Logits:
    """One `logits` answer as arrays (None where not asked)."""

    sequence: np.ndarray | None = None  # [L, 64]
    embeddings: np.ndarray | None = None  # [L, d]
    hidden_states: np.ndarray | None = None  # [H, L, d]
    mean_embedding: np.ndarray | None = None  # [d]
    mean_hidden_state: np.ndarray | None = None  # [H, d]


@dataclass(frozen=True)
class Embedding:
    """What `embed` gives for one sequence: [d] (mean) or [residues, d] (per residue), float32."""

    vector: np.ndarray
    windows: int = 1  # > 1: the sequence was longer than one request carries (see the module doc)


# -- concurrency -------------------------------------------------------------------------------------

class Aimd:
    """A concurrency limit that grows by one per window of successes and shrinks by `decrease` on
    throttling, at most once per window (as TCP does per round trip), between `floor` and `ceiling`.
    `acquire`/`release` gate the requests in flight; a request backing off holds no slot."""

    def __init__(self, start: int, ceiling: int, *, floor: int = 1, decrease: float = 0.85) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = float(min(max(start, self.floor), self.ceiling))
        self.decrease = decrease
        self.in_flight = 0
        self.throttled = 0
        self.peak = int(self.limit)
        self._since_decrease = int(self.limit)  # requests finished since the last decrease
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while self.in_flight >= int(self.limit):
                self._cond.wait()
            self.in_flight += 1

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()

    def success(self) -> None:
        with self._cond:
            before = int(self.limit)
            self._since_decrease += 1
            # The answers of the window after a decrease were sent under the old limit: they do not
            # raise the new one (else the limit climbs back over what throttled at once).
            if self._since_decrease >= before:
                self.limit = min(self.ceiling, self.limit + 1 / self.limit)
                self.peak = max(self.peak, int(self.limit))
            if int(self.limit) > before:  # wake only as many waiters as there are new slots
                self._cond.notify(int(self.limit) - before)

    def throttle(self) -> None:
        with self._cond:
            self.throttled += 1
            self._since_decrease += 1
            if self._since_decrease >= int(self.limit):  # one decrease per window of requests
                self.limit = max(self.floor, self.limit * self.decrease)
                self._since_decrease = 0

    @property
    def current(self) -> int:
        return int(self.limit)


# -- the client ----------------------------------------------------------------------------------------

Transport = Callable[[bytes, str], bytes]
"""Posts one InvokeEndpoint body with its custom attributes; returns the answer's bytes or raises
CallFailed (its `code` is the AWS error code, `retryable` whether a later try may pass)."""


class Client:
    """An ESM C endpoint: `encode`, `decode`, `logits`, `embed`. Thread-safe."""

    def __init__(self, transport: Transport, *, endpoint_name: str, forge_model: str, instances: int = 1,
                 deployment: str = "", concurrency: int | None = None, deadline: float = DEFAULT_DEADLINE,
                 sleep: Callable[[float], Any] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 rnd: Callable[[], float] = random.random) -> None:
        self._transport = transport
        self.endpoint_name = endpoint_name
        self.forge_model = forge_model
        self.deployment = deployment or endpoint_name
        self.shape = vocab.shape_of(forge_model)
        self.instances = max(1, instances)
        self.concurrency = concurrency
        self.deadline = deadline
        self.sleep, self.clock, self.rnd = sleep, clock, rnd
        self.calls = 0  # InvokeEndpoint requests sent, retries included
        self.remote_tokens = False  # True: the endpoint tokenizes differently; `encode` before each `logits`
        self._refused_rows = vocab.MAX_RESIDUES + 1  # per-residue windows stay below (answers refused as too big)
        self._lock = threading.Lock()

    def check_tokenizer(self, probe: str) -> bool:
        """Compare the local tokenizer with the endpoint's `encode` of `probe` (one call). On a
        difference every later `embed` asks `encode` first (two requests a protein, still right)."""
        remote = [int(t) for t in self.encode(probe)]
        self.remote_tokens = remote != vocab.tokenize(probe)
        return not self.remote_tokens

    # -- the Forge API --

    def encode(self, sequence: str) -> np.ndarray:
        """The endpoint's token ids for `sequence` (BOS, residues, EOS)."""
        data = self.call("encode", {"model": self.forge_model, "inputs": {"sequence": sequence}})
        outputs = _need(data, "outputs", "encode", dict)  # potential_sequence_of_concern (esm 3.4) is not needed here
        return np.asarray(_need(outputs, "sequence", "encode.outputs", list), dtype=np.int64)

    def decode(self, tokens: Sequence[int] | np.ndarray) -> str:
        """The sequence of token ids."""
        data = self.call("decode", {"model": self.forge_model, "inputs": {"sequence": [int(t) for t in tokens]}})
        outputs = _need(data, "outputs", "decode", dict)
        return str(_need(outputs, "sequence", "decode.outputs", str))

    def logits(self, tokens: Sequence[int] | np.ndarray | str, *, sequence: bool = True, embeddings: bool = False,
               hidden_states: bool = False, layer: int | None = None, mean_embedding: bool = False,
               mean_hidden_state: bool = False, deadline: float | None = None) -> Logits:
        """One `logits` request. `tokens` are token ids (a string is tokenized locally); `layer`
        asks for one hidden state (0 … layers) instead of all."""
        ids = vocab.tokenize(tokens) if isinstance(tokens, str) else [int(t) for t in tokens]
        if layer is not None and not self.shape.has_layer(layer):
            raise InvokeFailed(f"layer {layer} does not exist in {self.forge_model}.", hint=self.shape.layers_hint)
        request = self._logits_request(ids, sequence=sequence, embeddings=embeddings, hidden_states=hidden_states,
                                       layer=layer, mean_embedding=mean_embedding,
                                       mean_hidden_state=mean_hidden_state)
        data = self.call("logits", request, deadline=deadline)
        return _parse_logits(data, len(ids), self.shape)

    # -- embedding many sequences --

    def embed(self, sequences: Sequence[str], *, per_residue: bool = False, layer: int | None = None,
              concurrency: int | None = None) -> np.ndarray | list[np.ndarray]:
        """Embeddings of `sequences`, in order: one [n, d] array of means, or with `per_residue` a
        list of [residues, d] arrays. Raises the first failure."""
        cleaned = []
        for index, sequence in enumerate(sequences):
            seq, why = vocab.check_residues(sequence)
            if why:
                raise InvokeFailed(f"Sequence {index} cannot be embedded: {why}.",
                                   hint="Amino-acid letters only (ACDEFGHIKLMNPQRSTVWY, X, B, U, Z, O).")
            cleaned.append(seq)
        out: list[np.ndarray | None] = [None] * len(cleaned)
        stream = self.embed_iter(enumerate(cleaned), per_residue=per_residue, layer=layer, concurrency=concurrency)
        try:
            for index, result in stream:
                if isinstance(result, BaseException):
                    raise result
                out[index] = result.vector
        finally:
            stream.close()  # stops the workers: nothing more is sent after an error
        arrays = [a for a in out if a is not None]
        assert len(arrays) == len(cleaned)  # every sequence answered, or an error was raised
        if per_residue:
            return arrays
        return np.stack(arrays) if arrays else np.zeros((0, self.shape.width), dtype=np.float32)

    def embed_iter(self, items: Iterable[tuple[Any, str]], *, per_residue: bool = False, layer: int | None = None,
                   concurrency: int | None = None, limiter: Aimd | None = None,
                   stop: threading.Event | None = None) -> Generator[tuple[Any, Embedding | EsmctlError], None, None]:
        """(key, Embedding or the error) for each (key, sequence), in the order they finish.

        At most `limiter.current` requests are in flight; throttling lowers it, successes raise it.
        `stop` set: no new sequence is started; those in flight finish."""
        limiter = limiter or self.limiter(concurrency)
        stop = stop or threading.Event()
        halt = threading.Event()  # set when this generator ends: the caller's `stop` stays theirs
        source = iter(items)
        source_lock = threading.Lock()
        results: list[tuple[Any, Embedding | EsmctlError]] = []
        ready = threading.Condition()
        workers_left = [limiter.ceiling]

        def take() -> tuple[Any, str] | None:
            with source_lock:
                if stop.is_set() or halt.is_set():
                    return None
                return next(source, None)

        def work() -> None:
            try:
                while (item := take()) is not None:
                    key, seq = item
                    try:
                        result: Embedding | EsmctlError = self._embed_one(seq, per_residue, layer, limiter)
                    except EsmctlError as e:
                        result = e
                    except Exception as e:  # noqa: BLE001  (a malformed answer must not kill the worker silently)
                        result = CallFailed(f"The answer for a sequence could not be read: {type(e).__name__}: {e}",
                                            code="BadAnswer")
                    if isinstance(result, EsmctlError) and stops_all(result):
                        halt.set()  # no other call can pass: start no more
                    with ready:
                        results.append((key, result))
                        ready.notify()
            finally:
                with ready:
                    workers_left[0] -= 1
                    ready.notify()

        threads = [threading.Thread(target=work, daemon=True, name=f"esmctl-embed-{i}")
                   for i in range(limiter.ceiling)]
        for t in threads:
            t.start()
        try:
            while True:
                with ready:
                    while not results and workers_left[0] > 0:
                        ready.wait()
                    batch, results[:] = results[:], []
                    done = workers_left[0] == 0
                yield from batch
                if done and not batch:
                    return
        finally:
            halt.set()  # the caller stopped reading (an error, Ctrl-C): start no more calls

    def limiter(self, concurrency: int | None = None) -> Aimd:
        """The concurrency gate for a run: fixed at `concurrency`, else adaptive from the instance count."""
        fixed = concurrency or self.concurrency
        if fixed:
            return Aimd(fixed, fixed, floor=fixed)
        return Aimd(self.instances * PER_INSTANCE_START, pool_size(self.instances))

    def window_size(self, per_residue: bool) -> int:
        """The most residues one request carries: the context, and for per-residue rows what keeps
        the answer under 6 MiB at BYTES_PER_NUMBER a number (or less, once the endpoint refused more)."""
        if not per_residue:
            return vocab.MAX_RESIDUES
        fit = vocab.INVOKE_MAX_BYTES * 9 // 10 // (self.shape.width * BYTES_PER_NUMBER) - 2
        return max(MIN_WINDOW, min(vocab.MAX_RESIDUES, fit, self._refused_rows - 1))

    def windows_for(self, length: int, per_residue: bool) -> list[tuple[int, int]]:
        """The residue ranges [start, end) one sequence is sent in (one range when it fits)."""
        return windows(length, self.window_size(per_residue), WINDOW_OVERLAP)

    def _embed_one(self, sequence: str, per_residue: bool, layer: int | None, limiter: Aimd) -> Embedding:
        """One sequence, in windows. A per-residue answer the endpoint still finds too large (its
        numbers printed wider than assumed) makes every later window half that size, this one's too."""
        while True:
            spans = self.windows_for(len(sequence), per_residue)
            parts: list[np.ndarray] = []
            try:
                for start, end in spans:
                    parts.append(self._embed_span(sequence[start:end], per_residue, layer, limiter))
                break
            except CallFailed as e:
                size = max(end - start for start, end in spans)
                if not (per_residue and answer_too_large(e) and size > MIN_WINDOW):
                    raise
                with self._lock:
                    self._refused_rows = min(self._refused_rows, max(MIN_WINDOW + 1, size // 2 + 1))
        if len(spans) == 1:
            return Embedding(parts[0])
        if per_residue:
            return Embedding(stitch(spans, parts, len(sequence)), len(spans))
        weights = np.array([end - start for start, end in spans], dtype=np.float64)
        mean = (np.stack(parts).astype(np.float64) * weights[:, None]).sum(axis=0) / weights.sum()
        return Embedding(mean.astype(np.float32), len(spans))

    def _embed_span(self, sequence: str, per_residue: bool, layer: int | None, limiter: Aimd) -> np.ndarray:
        ids = [int(t) for t in self.encode(sequence)] if self.remote_tokens else vocab.tokenize(sequence)
        if per_residue:
            out = self._logits_gated(ids, limiter, sequence=False, embeddings=layer is None,
                                     hidden_states=layer is not None, layer=layer)
            rows = out.embeddings if layer is None else (out.hidden_states[0] if out.hidden_states is not None
                                                         else None)
            assert rows is not None  # _parse_logits checked it
            return np.ascontiguousarray(rows[1:-1], dtype=np.float32)  # residues only: BOS and EOS dropped
        out = self._logits_gated(ids, limiter, sequence=False, mean_embedding=layer is None,
                                 mean_hidden_state=layer is not None, layer=layer)
        vec = out.mean_embedding if layer is None else (out.mean_hidden_state[0]
                                                        if out.mean_hidden_state is not None else None)
        assert vec is not None
        return np.asarray(vec, dtype=np.float32)

    def _logits_request(self, ids: list[int], *, sequence: bool = False, embeddings: bool = False,
                        hidden_states: bool = False, layer: int | None = None, mean_embedding: bool = False,
                        mean_hidden_state: bool = False) -> dict[str, Any]:
        """The Forge `logits` request as ESMCForgeInferenceClient._process_logits_request builds it."""
        config = {"sequence": sequence, "return_embeddings": embeddings, "return_hidden_states": hidden_states,
                  "ith_hidden_layer": -1 if layer is None else layer, "return_mean_embedding": mean_embedding,
                  "return_mean_hidden_states": mean_hidden_state, "sae_config": None}
        return {"model": self.forge_model, "inputs": {"sequence": ids}, "logits_config": config}

    def _logits_gated(self, ids: list[int], limiter: Aimd, **options: Any) -> Logits:
        request = self._logits_request(ids, **options)
        data = self.call("logits", request, limiter=limiter)
        out = _parse_logits(data, len(ids), self.shape)
        wanted = {"embeddings": out.embeddings, "hidden_states": out.hidden_states,
                  "mean_embedding": out.mean_embedding, "mean_hidden_state": out.mean_hidden_state}
        for name, value in wanted.items():
            if options.get(name) and value is None:
                raise CallFailed(f"The endpoint {self.endpoint_name} answered logits without {name!r}, which was "
                                 "asked for.", hint="Its container may predate this option (esm SDK 3.2.2 added "
                                 "the mean embeddings); use --per-residue.", code="MissingKey")
        return out

    # -- one call --

    def call(self, api: str, request: dict[str, Any], *, limiter: Aimd | None = None,
             deadline: float | None = None) -> dict[str, Any]:
        """POST one Forge request; the result under `api` in the answer. Retries what may pass later
        (throttling, 5xx, ModelNotReady, lost connections) with jittered backoff until `deadline`."""
        body = json.dumps(envelope(api, request)).encode()
        if len(body) > vocab.INVOKE_MAX_BYTES:
            raise CallFailed(f"The {api} request is {len(body):,} bytes; InvokeEndpoint takes at most "
                             f"{vocab.INVOKE_MAX_BYTES:,}.", hint="Send a shorter sequence.", code="RequestTooLarge")
        started = self.clock()
        limit = self.deadline if deadline is None else deadline
        attempt = 0
        while True:
            if limiter is not None:
                limiter.acquire()
            outcome = "error"  # whatever happens, the slot goes back (a lost slot would hang a run)
            try:
                with self._lock:
                    self.calls += 1
                raw = self._transport(body, RETURN_BYTES)
                outcome = "ok"
            except CallFailed as e:
                outcome = "throttled" if e.code in THROTTLED else "error"
                if e.code == NOT_RUNNING and "not found" in e.message.lower():
                    raise EndpointNotRunning(
                        f"The endpoint {self.endpoint_name} of {self.deployment} does not exist or is not InService.",
                        hint=f"`esmctl status {self.deployment}` shows it; `esmctl start {self.deployment}` starts a "
                        "stopped deployment.", details=e.details) from None
                if not e.retryable:
                    raise
                failure = e
            finally:
                if limiter is not None:
                    limiter.release()
                    if outcome == "ok":
                        limiter.success()
                    elif outcome == "throttled":
                        limiter.throttle()
            if outcome == "ok":
                return parse_answer(raw, api, self.endpoint_name)
            pause = self.rnd() * min(BACKOFF_CAP, BACKOFF_BASE * 2 ** attempt)
            waited = self.clock() - started
            if waited + pause > limit:
                raise CallFailed(f"{api} on {self.endpoint_name} still failed after {attempt + 1} tries in "
                                 f"{waited:.0f} s: {failure.message}", code=failure.code, details=failure.details,
                                 hint="The endpoint is overloaded or unwell: fewer concurrent calls "
                                 "(--concurrency), more instances, or its logs in CloudWatch.") from None
            self.sleep(pause)
            attempt += 1


def pool_size(instances: int, concurrency: int | None = None) -> int:
    """Connections a client needs: the most requests it may have in flight on `instances`."""
    return min(MAX_CONCURRENCY, max(concurrency or 0, instances * PER_INSTANCE_MAX))


def answer_too_large(error: CallFailed) -> bool:
    """SageMaker's refusal of an answer over 6 MiB (ModelError "…could not load the entire response
    body…", docs/aws-behaviour.md; wording unverified)."""
    return error.code == "ModelError" and "entire response body" in error.message


def stops_all(error: BaseException) -> bool:
    """An error no other call can escape either: the endpoint is gone, or the caller may not call it."""
    return isinstance(error, EndpointNotRunning) or (isinstance(error, CallFailed) and error.stops_all)


def parse_answer(raw: bytes, api: str, endpoint_name: str) -> dict[str, Any]:
    """The result under `api` of an answer; CallFailed when it is not one."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CallFailed(f"The endpoint {endpoint_name} answered {api} with something that is not JSON "
                         f"({len(raw)} bytes: {raw[:80]!r}).", code="BadAnswer",
                         hint="Is it an ESM model endpoint? Check the model package in models.yaml.") from None
    if not isinstance(doc, dict) or doc.get("endpoint") != api or not isinstance(doc.get(api), dict):
        got = doc.get("endpoint") if isinstance(doc, dict) else type(doc).__name__
        raise CallFailed(f"The endpoint {endpoint_name} answered {api} with an answer for {got!r} (the esm SDK "
                         "asserts the answer's endpoint matches the request's).", code="BadAnswer")
    return doc[api]  # type: ignore[no-any-return]


def _need(doc: dict[str, Any], key: str, where: str, kind: type | None = None) -> Any:
    """doc[key] as the SDK reads it (a missing key is a KeyError in the SDK's parser)."""
    if key not in doc:
        raise CallFailed(f"The {where} answer has no {key!r} (the esm SDK reads it and would fail with KeyError).",
                         code="MissingKey")
    value = doc[key]
    if kind is not None and not isinstance(value, kind):
        raise CallFailed(f"The {where} answer's {key!r} is {type(value).__name__}, not {kind.__name__}.",
                         code="BadAnswer")
    return value


# What every SDK version (3.2.1 on) reads with data[...]; the means (3.2.2) and sae_outputs (3.4) may be
# missing from an older container's answer, and count as not given (an error only when asked for).
LOGITS_REQUIRED = ("logits", "embeddings", "hidden_states")


def _parse_logits(data: dict[str, Any], tokens: int, shape: vocab.ModelShape) -> Logits:
    """A `logits` result as arrays with the batch dimension of one removed; shapes checked."""
    for key in LOGITS_REQUIRED:
        _need(data, key, "logits")
    logits = data["logits"] or {}
    if not isinstance(logits, dict):
        raise CallFailed("The logits answer's 'logits' is not an object.", code="BadAnswer")

    def array(value: Any, rank: int, name: str) -> np.ndarray | None:
        if value is None:
            return None
        if isinstance(value, str):
            raise CallFailed(f"The logits answer's {name!r} is encoded bytes although return_bytes=false was asked.",
                             code="BadAnswer")
        a = np.asarray(value, dtype=np.float32)
        batch = 1 if name in ("hidden_states", "mean_hidden_state") else 0  # where the batch of one sits
        if a.ndim == rank + 1 and a.shape[batch] == 1:
            a = a.squeeze(axis=batch)
        if a.ndim != rank:
            raise CallFailed(f"The logits answer's {name!r} has shape {list(a.shape)}; expected {rank} dimensions "
                             "after the batch of one.", code="BadAnswer")
        if a.shape[-1] != (vocab.LOGITS_WIDTH if name == "sequence" else shape.width):
            raise CallFailed(f"The logits answer's {name!r} is {a.shape[-1]} wide; {shape.family} is "
                             f"{shape.width}.", code="BadAnswer", hint="Is forge_model right for this endpoint?")
        if name in ("sequence", "embeddings") and a.shape[0] != tokens:
            raise CallFailed(f"The logits answer's {name!r} has {a.shape[0]} positions for {tokens} tokens.",
                             code="BadAnswer")
        return a

    return Logits(sequence=array(logits.get("sequence"), 2, "sequence"),
                  embeddings=array(data["embeddings"], 2, "embeddings"),
                  hidden_states=array(data["hidden_states"], 3, "hidden_states"),
                  mean_embedding=array(data.get("mean_embedding"), 1, "mean_embedding"),
                  mean_hidden_state=array(data.get("mean_hidden_state"), 2, "mean_hidden_state"))


def windows(length: int, most: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) ranges of at most `most` residues covering [0, length), neighbours sharing
    `overlap` residues (less when `most` is small)."""
    if length <= most:
        return [(0, length)]
    overlap = min(overlap, most // 4)
    step = most - overlap
    spans, start = [], 0
    while True:
        end = min(start + most, length)
        spans.append((max(0, end - most), end))
        if end == length:
            return spans
        start += step


def stitch(spans: list[tuple[int, int]], parts: list[np.ndarray], length: int) -> np.ndarray:
    """Per-residue rows of a sequence sent in windows: each residue from the window where it is
    farthest from an edge."""
    out = np.empty((length, parts[0].shape[-1]), dtype=np.float32)
    best = np.full(length, -1, dtype=np.int64)
    for (start, end), part in zip(spans, parts, strict=True):
        pos = np.arange(start, end)
        margin = np.minimum(pos - start, end - 1 - pos)
        take = margin > best[start:end]
        out[pos[take]] = part[take]
        best[start:end] = np.maximum(best[start:end], margin)
    return out


# -- connecting --------------------------------------------------------------------------------------

def connect(name: str | None = None, *, config: str | None = "esmctl.yaml", as_shared_user: bool = False,
            endpoint_name: str | None = None, forge_model: str | None = None, region: str | None = None,
            profile: str | None = None, endpoint_url: str | None = None, esm: bool = False,
            concurrency: int | None = None, deadline: float = DEFAULT_DEADLINE) -> Any:
    """A client for deployment `name` of `config` (its endpoint from the state), or for
    `endpoint_name` + `forge_model` directly. `as_shared_user`: sign with the shared service
    account's key (from the secret store). `esm=True`: an object with the esm SDK's
    ESMCInferenceClient interface (needs the `esm` package)."""
    import os

    from esmctl.api import Workspace

    if name is None and not endpoint_name:
        raise EsmctlError("connect() needs a deployment name, or endpoint_name= and forge_model=.",
                          hint='e.g. esmctl.connect("prototype_model") in the folder of esmctl.yaml.')
    if endpoint_name and not forge_model:
        raise EsmctlError("connect(endpoint_name=...) needs forge_model= too (e.g. esmc-300m-2024-12).")
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    if name is not None:
        ws = Workspace(config, profile=profile, region=region, endpoint_url=endpoint_url)
        client = ws.client(name, as_shared_user=as_shared_user, concurrency=concurrency, deadline=deadline)
    else:
        from esmctl.aws import Aws

        if as_shared_user:
            raise EsmctlError("as_shared_user=True needs a deployment name (the key comes from its environment).")
        import boto3

        region = region or boto3.Session(profile_name=profile).region_name  # the profile's, as the AWS CLI does
        if not region:
            raise EsmctlError("connect(endpoint_name=...) needs the endpoint's region.",
                              hint='Pass region="us-east-2" (or set AWS_REGION, or a profile with a region).')
        aws = Aws(region=region, profile=profile, endpoint_url=endpoint_url)
        client = Client(aws.runtime.invoker(str(endpoint_name), pool=pool_size(1, concurrency)),
                        endpoint_name=str(endpoint_name), forge_model=str(forge_model), concurrency=concurrency,
                        deadline=deadline)
    if esm:
        from esmctl.esm_compat import esm_client
        return esm_client(client)
    return client
