"""A stand-in for the ESM C model container behind a sandbox endpoint: the Forge API, as the `esm`
SDK (3.2.1 to 3.4.x) sends it and parses the answers.

Real endpoints run EvolutionaryScale's container, which takes the request the SDK's SageMaker client
sends (`esm/sdk/sagemaker.py` ESM3SageMakerClient._post): a Forge API request wrapped as
`{"model", "request_id", "user_id", "api_ver": "v1", "endpoint": API, API: {...}}`, with the header
`X-Amzn-SageMaker-Custom-Attributes: return_bytes=true|false`, and answers `{"endpoint": API, API:
{...}}`. This module answers `encode` (sequence → token ids), `decode` (token ids → sequence) and
`logits` (logits, embeddings, hidden states and their means over the residues) without a model.
Pure computation: no moto, no boto3; numpy for the numbers.

The answers carry every key the SDK's parsers read with `data[...]` (tests/sandbox/
test_container_contract.py lists them, with file and line): a missing one is a KeyError in the
user's notebook. What is this module's own choice, not verified against the real container:
- Shapes keep the batch dimension of 1 that the local model's tensors have when serialized
  (`esm/models/esmc.py` ESMC.logits batches one protein): logits.sequence [1, L, 64], embeddings
  [1, L, d], hidden_states [H, 1, L, d] (H = layers + 1, `vocab.ModelShape.hidden_states`; [1, 1, L, d]
  with `ith_hidden_layer`), mean_embedding [1, d], mean_hidden_state [H, 1, d] ([1, 1, d]). L counts
  the tokens, BOS and EOS included. The Forge cookbook (`cookbook/tutorials/embed.ipynb`) only shows
  `mean_hidden_state.squeeze()` as [31, 960] for esmc-300m, which these shapes agree with.
- The means are over the residue positions: BOS, EOS and PAD excluded (over every position when
  there is no residue).
- Values are deterministic per (model family, token sequence) and depend on nothing else: the
  embedding of residue i is a per-token vector plus a per-position variation chosen by a hash of the
  whole sequence (so similar proteins have similar means). Hidden state k is `a_k * embeddings +
  b_k` (per-layer scalar a_k and vector b_k); the last one IS the embeddings (a = 1, b = 0), so
  mean_hidden_state[-1] equals mean_embedding. The sequence logits score the input token highest.
  Tables come from numpy's PCG64 seeded by the model family: the same numbers for the same numpy.
- Tensors are plain JSON lists of float32 values printed as Python floats (`float(np.float32(x))`,
  ~18 characters each, ~20.6 bytes with the separator), as a float32 tensor's `tolist()` serializes,
  also with `return_bytes=true`: the SDK's `_maybe_b64_decode` decodes only strings and passes lists
  through (esm 3.2.2 to 3.3.0 esm/sdk/forge.py `_maybe_b64_decode`, line 45 in 3.2.2, 65 in 3.3.0;
  3.2.1 has the same nested function at lines 642 and 1027). So answer sizes are realistic: one
  residue's esmc-300m embedding is ~20 kB, and per-residue answers of ~300 residues reach
  SageMaker's 6 MiB response limit.
- ESM C reads only the sequence track: other tracks in a request (ESM3's client sends
  `structure`, `sasa` … as null) are ignored and answered null; logits of other tracks are not given
  (the parsers read them with `.get`). `sae_config` is refused (422): SAE outputs are not served.
- `Accept`: JSON is answered when it accepts application/json (also the SDK's Forge client's
  `application/vnd.evolutionaryscale.pickle;protocol=5, application/json`), `*/*` or nothing;
  anything else → 406.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from esmctl import vocab
from esmctl.vocab import BOS, EOS, MAX_RESIDUES, PAD, ModelShape, tokenize

__all__ = ["AnswerTooLarge", "ForgeError", "Request", "answer", "parse", "respond", "tokenize"]

MAX_TOKENS = MAX_RESIDUES + 2  # BOS and EOS
# Lower bound of the bytes one number takes in the JSON answer ("0.0" and ", "): a bigger answer is
# refused before it is built (a sandbox shortcut: 31 hidden states of 300 residues are ~180 MB).
MIN_NUMBER_BYTES = 5
_ROWS = 2053  # noise rows, a prime above MAX_TOKENS: one sequence never reuses a row
NOISE = np.float32(0.2)  # embeddings = token vector + NOISE × a noise row (a row per position)
LOGITS_NOISE = np.float32(0.25)  # sequence logits = the token's row + LOGITS_NOISE × a noise row
_LOGITS_FLAGS = ("sequence", "return_embeddings", "return_hidden_states", "return_mean_embedding",
                 "return_mean_hidden_states")


class ForgeError(Exception):
    """The container refused the request: `status` is its HTTP status, `detail` its message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail

    @property
    def body(self) -> str:
        """The container's own error body (what SageMaker quotes as OriginalMessage)."""
        return json.dumps({"detail": self.detail})


class AnswerTooLarge(Exception):
    """The answer would be larger than `limit` bytes (`size` is its size, or a lower bound of it)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"the answer is at least {size} bytes, more than {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class Request:
    """One invocation, parsed: which API, for which model, on which tokens."""

    api: str
    model: str  # the Forge model name asked for (the envelope's, else the request's)
    payload: dict[str, Any]  # the wrapped Forge request
    tokens: tuple[int, ...] | None  # what the model reads (encode: the tokenized sequence)

    @property
    def sequence(self) -> str | None:
        """The residues as letters (decode's answer for token requests)."""
        if self.api == "encode":
            seq = (self.payload.get("inputs") or {}).get("sequence")
            return seq if isinstance(seq, str) else None
        return vocab.detokenize(list(self.tokens)) if self.tokens is not None else None

    @property
    def shape(self) -> ModelShape:
        return vocab.shape_of(self.model)

    def asked(self) -> tuple[str, ...]:
        """The `logits_config` options set (for the sandbox's invocation records)."""
        config = self.payload.get("logits_config") if self.api == "logits" else None
        if not isinstance(config, dict):
            return ()
        flags = [flag for flag in _LOGITS_FLAGS if config.get(flag)]
        layer = config.get("ith_hidden_layer", -1)
        return (*flags, f"ith_hidden_layer={layer}") if layer not in (-1, None) else tuple(flags)


def answer(body: bytes | str, *, accept: str | None = None, custom_attributes: str | None = None,
           max_bytes: int | None = None) -> bytes:
    """The container's JSON answer to an invocation body; ForgeError for a bad request."""
    return respond(parse(body), accept=accept, custom_attributes=custom_attributes, max_bytes=max_bytes)


def parse(body: bytes | str) -> Request:
    """The request in an invocation body, checked as the container checks it (ForgeError if not)."""
    try:
        envelope = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ForgeError(400, "The request body is not valid JSON") from None
    if not isinstance(envelope, dict):
        raise ForgeError(400, "The request body must be a JSON object")
    if envelope.get("api_ver", "v1") != "v1":
        raise ForgeError(400, f"Unsupported api_ver {envelope.get('api_ver')!r}: must be 'v1'")
    api = envelope.get("endpoint")
    if not isinstance(api, str) or api not in _APIS:
        raise ForgeError(404, f"Unknown endpoint {api!r}: this model serves {', '.join(sorted(_APIS))}")
    payload = envelope.get(api)
    if not isinstance(payload, dict):
        raise ForgeError(422, f"The request has no {api!r} object (the wrapped Forge request)")
    inputs = payload.get("inputs")
    if not isinstance(inputs, dict):
        raise ForgeError(422, f"{api}: 'inputs' must be an object")
    model = str(envelope.get("model") or payload.get("model") or "")
    sequence = inputs.get("sequence")
    if api == "encode":
        if sequence is not None and not isinstance(sequence, str):
            raise ForgeError(422, "encode: 'inputs.sequence' must be a string")
        if sequence is not None and len(sequence) > MAX_RESIDUES:
            raise ForgeError(422, f"encode: the sequence is longer than {MAX_RESIDUES} residues")
        tokens = tuple(tokenize(sequence)) if sequence is not None else None
    else:
        tokens = _token_ids(api, sequence)
    return Request(api, model, payload, tokens)


def _token_ids(api: str, sequence: Any) -> tuple[int, ...]:
    if (not isinstance(sequence, list) or not sequence
            or not all(isinstance(t, int) and not isinstance(t, bool) for t in sequence)):
        raise ForgeError(422, f"{api}: 'inputs.sequence' must be a list of token ids (from encode)")
    if any(not 0 <= t < vocab.LOGITS_WIDTH for t in sequence):
        raise ForgeError(422, f"{api}: token ids must be within 0..{vocab.LOGITS_WIDTH - 1}")
    if len(sequence) > MAX_TOKENS:
        raise ForgeError(422, f"{api}: the sequence is longer than {MAX_RESIDUES} residues")
    return tuple(sequence)


def respond(request: Request, *, accept: str | None = None, custom_attributes: str | None = None,
            max_bytes: int | None = None) -> bytes:
    """The JSON answer to a parsed request. `custom_attributes` (`return_bytes=true|false`) changes
    nothing: tensors are JSON lists either way (see the module docstring). AnswerTooLarge when the
    answer would exceed `max_bytes`; ForgeError for what the container refuses."""
    _check_accept(accept)
    result = _APIS[request.api](request, max_bytes)
    out = json.dumps({"endpoint": request.api, request.api: result}).encode()
    if max_bytes is not None and len(out) > max_bytes:
        raise AnswerTooLarge(len(out), max_bytes)
    return out


def _check_accept(accept: str | None) -> None:
    if not accept or not accept.strip():
        return
    for part in accept.split(","):
        media = part.split(";")[0].strip().lower()
        if media in ("application/json", "application/*", "*/*"):
            return
    raise ForgeError(406, f"Cannot answer {accept!r}: this model answers application/json")


def _encode(request: Request, max_bytes: int | None) -> dict[str, Any]:
    return {
        "outputs": {
            "sequence": list(request.tokens) if request.tokens is not None else None,
            "structure": None,
            "coordinates": None,
            "secondary_structure": None,
            "sasa": None,
            "function": None,
            "residue_annotation": None,
        },
        # Echoed: the SDK's `_post` sends the caller's flag; esm 3.4 reads it back.
        "potential_sequence_of_concern": bool(request.payload.get("potential_sequence_of_concern", False)),
    }


def _decode(request: Request, max_bytes: int | None) -> dict[str, Any]:
    assert request.tokens is not None
    return {
        "outputs": {
            "sequence": vocab.detokenize(list(request.tokens)),
            "structure": None,
            "coordinates": None,
            "secondary_structure": None,
            "sasa": None,
            "function": None,
            "plddt": None,
            "ptm": None,
            "residue_annotation": None,
        }
    }


def _logits(request: Request, max_bytes: int | None) -> dict[str, Any]:
    assert request.tokens is not None
    config = request.payload.get("logits_config")
    if config is None:
        config = {}  # LogitsConfig()'s defaults: nothing asked (esm/sdk/api.py LogitsConfig)
    if not isinstance(config, dict):
        raise ForgeError(422, "logits: 'logits_config' must be an object")
    if config.get("sae_config"):
        raise ForgeError(422, "SAE outputs are not served by this endpoint")
    shape = request.shape
    layer = config.get("ith_hidden_layer", -1)
    if layer is None:
        layer = -1
    if isinstance(layer, bool) or not isinstance(layer, int) or not (layer == -1 or 0 <= layer <= shape.layers):
        raise ForgeError(422, f"logits: 'ith_hidden_layer' must be -1 (all) or within 0..{shape.layers} "
                         f"for {shape.family} ({shape.hidden_states} hidden states)")
    want = {flag: bool(config.get(flag)) for flag in _LOGITS_FLAGS}
    length, width = len(request.tokens), shape.width
    layers = 1 if layer != -1 else shape.hidden_states
    numbers = (want["sequence"] * length * vocab.LOGITS_WIDTH + want["return_embeddings"] * length * width
               + want["return_hidden_states"] * layers * length * width + want["return_mean_embedding"] * width
               + want["return_mean_hidden_states"] * layers * width)
    if max_bytes is not None and numbers * MIN_NUMBER_BYTES > max_bytes:
        raise AnswerTooLarge(numbers * MIN_NUMBER_BYTES, max_bytes)

    tables = _tables(shape)
    tokens = np.asarray(request.tokens, dtype=np.int64)
    offset = _offset(shape.family, tokens)
    rows = (offset + np.arange(length)) % _ROWS
    out: dict[str, Any] = {"logits": {}, "embeddings": None, "hidden_states": None, "mean_embedding": None,
                           "mean_hidden_state": None, "sae_outputs": None}
    if want["sequence"]:
        logits = tables.logits[tokens] + LOGITS_NOISE * tables.noise[(rows + 7) % _ROWS, :vocab.LOGITS_WIDTH]
        out["logits"] = {"sequence": [logits.tolist()]}
    if not any(want[flag] for flag in _LOGITS_FLAGS[1:]):
        return out
    picked = slice(layer, layer + 1) if layer != -1 else slice(None)
    scale, shift = tables.scale[picked], tables.shift[picked]  # [layers], [layers, d]
    if want["return_embeddings"] or want["return_hidden_states"]:
        embeddings = tables.token[tokens] + NOISE * tables.noise[rows]  # float32 [L, d]
        if want["return_embeddings"]:
            out["embeddings"] = [embeddings.tolist()]
        if want["return_hidden_states"]:
            hidden = scale[:, None, None] * embeddings[None] + shift[:, None, :]  # [layers, L, d]
            out["hidden_states"] = hidden[:, None].tolist()
    if want["return_mean_embedding"] or want["return_mean_hidden_states"]:
        mean = _mean_embedding(tables, tokens, rows)  # [d]
        if want["return_mean_embedding"]:
            out["mean_embedding"] = [mean.tolist()]
        if want["return_mean_hidden_states"]:
            out["mean_hidden_state"] = (scale[:, None] * mean[None] + shift)[:, None].tolist()  # [layers, 1, d]
    return out


def _mean_embedding(tables: _Tables, tokens: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """The mean of the embeddings over the residue positions (BOS, EOS, PAD excluded; all positions
    when there is no residue), without building them: the token part from token counts, the noise
    part from prefix sums when the residues are contiguous (always, for an encoded sequence).
    Equal to the mean of the `return_embeddings` rows within float32 rounding."""
    positions = np.flatnonzero(~np.isin(tokens, (BOS, EOS, PAD)))
    if positions.size == 0:
        positions = np.arange(tokens.size)
    n = positions.size
    token_sum = np.bincount(tokens[positions], minlength=vocab.LOGITS_WIDTH) @ tables.token.astype(np.float64)
    if positions[-1] - positions[0] + 1 == n:  # rows[first] … rows[first] + n - 1, modulo _ROWS
        start = int(rows[positions[0]])
        end = start + n
        sums = tables.noise_sums
        noise_sum = sums[min(end, _ROWS)] - sums[start]
        if end > _ROWS:
            noise_sum = noise_sum + sums[end - _ROWS]
    else:
        noise_sum = tables.noise[rows[positions]].sum(axis=0, dtype=np.float64)
    return ((token_sum + float(NOISE) * noise_sum) / n).astype(np.float32)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# The numbers: per model family, tables drawn once from a seeded generator.


@dataclass(frozen=True)
class _Tables:
    token: np.ndarray  # [64, d] float32: what each token contributes to an embedding
    noise: np.ndarray  # [_ROWS, d] float32: per-position variation, picked by a hash of the sequence
    noise_sums: np.ndarray  # [_ROWS + 1, d] float64: noise_sums[k] = noise[:k].sum(axis=0)
    logits: np.ndarray  # [64, 64] float32: row t scores token t highest
    scale: np.ndarray  # [H] float32: hidden state k = scale[k] * embeddings + shift[k]
    shift: np.ndarray  # [H, d] float32


_cache: dict[str, _Tables] = {}
_cache_lock = threading.Lock()


def _tables(shape: ModelShape) -> _Tables:
    tables = _cache.get(shape.family)
    if tables is not None:
        return tables
    with _cache_lock:
        tables = _cache.get(shape.family)
        if tables is None:
            seed = int.from_bytes(hashlib.sha256(shape.family.encode()).digest()[:8], "big")
            rng = np.random.default_rng(seed)
            d, h = shape.width, shape.hidden_states
            logits = rng.normal(-2.0, 0.8, (vocab.LOGITS_WIDTH, vocab.LOGITS_WIDTH)).clip(-6, 2).astype(np.float32)
            np.fill_diagonal(logits, 8.0)
            scale = np.linspace(0.2, 1.0, h).astype(np.float32)
            shift = (rng.standard_normal((h, d), dtype=np.float32) * 0.1 * (1.0 - scale)[:, None]).astype(np.float32)
            scale[-1], shift[-1] = 1.0, 0.0  # the last hidden state is the embeddings
            token = rng.standard_normal((vocab.LOGITS_WIDTH, d), dtype=np.float32) * np.float32(0.5)
            noise = rng.standard_normal((_ROWS, d), dtype=np.float32)
            sums = np.zeros((_ROWS + 1, d), dtype=np.float64)
            np.cumsum(noise, axis=0, dtype=np.float64, out=sums[1:])
            tables = _Tables(token=token, noise=noise, noise_sums=sums, logits=logits, scale=scale, shift=shift)
            _cache[shape.family] = tables
    return tables


def _offset(family: str, tokens: np.ndarray) -> int:
    digest = hashlib.sha256(family.encode() + b"\0" + tokens.astype("<i2").tobytes()).digest()
    return int.from_bytes(digest[:8], "big") % _ROWS


_APIS: dict[str, Callable[[Request, int | None], dict[str, Any]]] = {
    "encode": _encode, "decode": _decode, "logits": _logits,
}
