"""A stand-in for the ESM model container behind a sandbox endpoint: Forge-shaped JSON in and out.

Real endpoints run EvolutionaryScale's container, which takes the request the `esm` SDK's
SageMaker client sends (`esm/sdk/sagemaker.py`): a Forge API request wrapped as
`{"model", "request_id", "user_id", "api_ver": "v1", "endpoint": API, API: {...}}`, and answers
`{"endpoint": API, API: {...}}`. This module answers `encode` (sequence → token ids) and `logits`
deterministically, without any model. Pure Python; no moto, no boto3.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

# ESM C / ESM3 sequence vocabulary: special tokens first, then residues in this order from id 4.
BOS, PAD, EOS, UNK = 0, 1, 2, 3
ALPHABET = "LAGVSERTIDPKQNFYMHWCXBUZO"
_EXTRA_TOKENS = {".": 29, "-": 30, "|": 31, "_": 32}  # gap-ish, chain break and mask tokens
VOCAB_SIZE = 64
# Embedding width of the model family, for `logits` with return_embeddings.
_EMBEDDING_WIDTH = {"esmc-300m": 960, "esmc-600m": 1152, "esmc-6b": 2560}
_DEFAULT_EMBEDDING_WIDTH = 960
MAX_SEQUENCE_LENGTH = 2048

_TOKEN_IDS = {residue: index + 4 for index, residue in enumerate(ALPHABET)} | _EXTRA_TOKENS


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


def tokenize(sequence: str) -> list[int]:
    """Token ids for a protein sequence: BOS, one id per residue (unknown letters → UNK), EOS."""
    return [BOS, *(_TOKEN_IDS.get(residue, UNK) for residue in sequence.upper()), EOS]


def answer(body: bytes | str) -> bytes:
    """The container's JSON answer to an invocation body, or ForgeError for a bad request."""
    request = _parse_request(body)
    api = request.get("endpoint")
    if not isinstance(api, str) or api not in _APIS:
        known = ", ".join(sorted(_APIS))
        raise ForgeError(404, f"Unknown endpoint {api!r}: this model serves {known}")
    handler = _APIS[api]
    payload = request.get(api)
    if not isinstance(payload, dict):
        raise ForgeError(422, f"The request has no {api!r} object (the wrapped Forge request)")
    result = handler(payload, str(request.get("model") or payload.get("model") or ""))
    return json.dumps({"endpoint": api, api: result}).encode()


def _parse_request(body: bytes | str) -> dict[str, Any]:
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ForgeError(400, "The request body is not valid JSON") from None
    if not isinstance(request, dict):
        raise ForgeError(400, "The request body must be a JSON object")
    if request.get("api_ver", "v1") != "v1":
        raise ForgeError(400, f"Unsupported api_ver {request.get('api_ver')!r}: must be 'v1'")
    return request


def _encode(payload: dict[str, Any], model: str) -> dict[str, Any]:
    inputs = payload.get("inputs")
    if not isinstance(inputs, dict):
        raise ForgeError(422, "encode: 'inputs' must be an object")
    sequence = inputs.get("sequence")
    if sequence is not None and not isinstance(sequence, str):
        raise ForgeError(422, "encode: 'inputs.sequence' must be a string")
    if sequence is not None and len(sequence) > MAX_SEQUENCE_LENGTH:
        raise ForgeError(422, f"encode: the sequence is longer than {MAX_SEQUENCE_LENGTH} residues")
    return {
        "outputs": {
            "sequence": tokenize(sequence) if sequence is not None else None,
            "structure": None,
            "coordinates": None,
            "secondary_structure": None,
            "sasa": None,
            "function": None,
            "residue_annotation": None,
        }
    }


def _logits(payload: dict[str, Any], model: str) -> dict[str, Any]:
    inputs = payload.get("inputs")
    if not isinstance(inputs, dict):
        raise ForgeError(422, "logits: 'inputs' must be an object")
    tokens = inputs.get("sequence")
    if isinstance(tokens, str):
        tokens = tokenize(tokens)
    if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
        raise ForgeError(422, "logits: 'inputs.sequence' must be a list of token ids (from encode)")
    config = payload.get("logits_config") or {}
    logits = {"sequence": [_logit_row(i, t) for i, t in enumerate(tokens)]} if config.get("sequence", True) else {}
    embeddings = None
    if config.get("return_embeddings"):
        width = _embedding_width(model)
        embeddings = [_embedding_row(i, t, width) for i, t in enumerate(tokens)]
    return {"logits": logits, "embeddings": embeddings}


def _logit_row(position: int, token: int) -> list[float]:
    """A plausible, deterministic logit vector: the input token scores highest."""
    return [8.0 if j == token else round(-2.0 - ((position * 7 + j * 13) % 17) / 10, 3) for j in range(VOCAB_SIZE)]


def _embedding_row(position: int, token: int, width: int) -> list[float]:
    return [round(math.sin(token * 0.37 + k * 0.011 + position * 0.0013), 4) for k in range(width)]


def _embedding_width(model: str) -> int:
    for family, width in _EMBEDDING_WIDTH.items():
        if model.lower().startswith(family):
            return width
    return _DEFAULT_EMBEDDING_WIDTH


_APIS: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {"encode": _encode, "logits": _logits}
