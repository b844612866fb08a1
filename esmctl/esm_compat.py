"""The `esm` SDK's client interface over esmctl's endpoint client: `esm_client(client)`.

Stage: calling the model (beside `esmctl.client`). Rule: importing this module needs neither `esm`
nor torch; `esm_client` imports them, and the request building and answer reading below the
adapter are pure functions on dicts and numpy arrays (tested without either).

Notebooks written for the SDK call an endpoint with `ESM3SageMakerClient(endpoint_name=…,
model="esmc-300m-2024-12")`, `encode`, then `logits(…, LogitsConfig(…))`. That client breaks
before it sends anything: `logits` passes `headers=` to a `_post` that takes none (esm 3.2.1.post1
… 3.3.0, docs/esm-sdk.md), and it raises every AWS error as a RuntimeError its retries never see
(only botocore's few default retries apply). `esmctl.connect(name, esm=True)` gives
instead an object that IS an `esm.sdk.api.ESMCInferenceClient` with the methods ESM C has (`encode`,
`decode`, `logits`, their `async_` variants, `raw_model`), answering as the SDK's Forge client
`ESMCForgeInferenceClient` (esm/sdk/forge.py) does:
- the same request (`_process_logits_request`), from any version's `LogitsConfig`: options that an
  older SDK lacks (`return_mean_embedding`, `return_mean_hidden_states`, `sae_config`) count as off;
- the same tensors: the SDK's `maybe_tensor` of the answer's values (as float32 / int64 numpy
  arrays, the dtypes `torch.tensor` gives Python floats / ints), batch dimensions kept (logits.sequence
  [1, L, 64], embeddings [1, L, d], hidden_states [H, 1, L, d], mean_embedding [1, d],
  mean_hidden_state [H, 1, d]); `LogitsOutput` fields the installed SDK lacks are left out;
- failures returned, not raised, as `ESMProteinError(error_code=HTTP status, error_msg=…)`; a bad
  argument (not an `ESMProteinTensor`) raises ValueError, as the SDK's does.
The calls go through `esmctl.client.Client.call`: InvokeEndpoint with the deployment's region and
credentials (or the shared user's), retries of throttling and 5xx within a deadline, and one
adaptive concurrency gate shared by every call of the adapter (threads and `async_` calls alike).

Where it differs from the SDK on purpose: the answers are always JSON lists (`return_bytes` is
accepted and ignored; esm 3.2.1.post1's Forge client would give `logits.sequence` as a list with
`return_bytes=False`, and 3.3.0 gives `mean_embedding` as a list: both are tensors here), and an
option asked for whose key the answer lacks is an `ESMProteinError` rather than a silent None or a
KeyError.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import re
import types
from typing import TYPE_CHECKING, Any

import numpy as np

from esmctl.client import LOGITS_REQUIRED, THROTTLED, CallFailed, EndpointNotRunning
from esmctl.errors import EsmctlError

if TYPE_CHECKING:
    from esmctl.client import Client

# (LogitsConfig flag, answer key, LogitsOutput field): the per-call outputs of ESM C's `logits`
# (esm 3.3.0 esm/sdk/forge.py ESMCForgeInferenceClient._process_logits_response).
OUTPUTS = (
    ("return_embeddings", "embeddings", "embeddings"),
    ("return_hidden_states", "hidden_states", "hidden_states"),
    ("return_mean_embedding", "mean_embedding", "mean_embedding"),
    ("return_mean_hidden_states", "mean_hidden_state", "mean_hidden_state"),
)
# Read with data[...] by every SDK version's parser (3.2.1.post1 forge.py:1038-1040), so an answer
# without them fails there with KeyError; here it is an ESMProteinError.
ALWAYS_READ = LOGITS_REQUIRED
MALFORMED = 500  # error_code for an answer that is not what the SDK would parse


# -- requests (pure) ------------------------------------------------------------------------------------

def encode_request(sequence: str | None, model: str, *, concern: bool = False) -> dict[str, Any]:
    """ESMC `encode`'s request (esm/sdk/forge.py ESMCForgeInferenceClient.encode)."""
    return {"inputs": {"sequence": sequence}, "model": model, "potential_sequence_of_concern": concern}


def decode_request(tokens: list[int] | None, model: str, *, concern: bool = False) -> dict[str, Any]:
    """ESMC `decode`'s request."""
    return {"model": model, "inputs": {"sequence": tokens}, "potential_sequence_of_concern": concern}


def logits_config(config: Any) -> dict[str, Any]:
    """The `logits_config` the newest SDK sends (3.3.0 forge.py `_process_logits_request`) for a
    LogitsConfig of any version: an option the object lacks is off."""
    sae = getattr(config, "sae_config", None)
    return {
        "sequence": bool(getattr(config, "sequence", False)),
        "return_embeddings": bool(getattr(config, "return_embeddings", False)),
        "return_mean_embedding": bool(getattr(config, "return_mean_embedding", False)),
        "return_mean_hidden_states": bool(getattr(config, "return_mean_hidden_states", False)),
        "return_hidden_states": bool(getattr(config, "return_hidden_states", False)),
        "ith_hidden_layer": int(getattr(config, "ith_hidden_layer", -1)),
        "sae_config": {"models": list(sae.models), "normalize_features": bool(sae.normalize_features)}
        if sae else None,
    }


def logits_request(tokens: list[int] | None, config: Any, model: str, *, concern: bool = False) -> dict[str, Any]:
    """ESMC `logits`' request for token ids and a LogitsConfig (of any version)."""
    return {"model": model, "inputs": {"sequence": tokens}, "logits_config": logits_config(config),
            "potential_sequence_of_concern": concern}


# -- answers (pure) ---------------------------------------------------------------------------------------

def _bad(api: str, message: str, code: str = "BadAnswer") -> CallFailed:
    return CallFailed(f"The {api} answer {message}", code=code)


def _outputs(data: dict[str, Any], api: str) -> dict[str, Any]:
    outputs = data.get("outputs")
    if not isinstance(outputs, dict) or "sequence" not in outputs:
        raise _bad(api, "has no outputs.sequence (the esm SDK reads data['outputs']['sequence']).", "MissingKey")
    return outputs


def encode_tokens(data: dict[str, Any]) -> tuple[np.ndarray, bool | None]:
    """The token ids (int64, as `torch.tensor` makes of a list of ints) of an `encode` result, and
    its `potential_sequence_of_concern` (None when the answer has none: older containers)."""
    tokens = _outputs(data, "encode")["sequence"]
    if not isinstance(tokens, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in tokens):
        raise _bad("encode", "has outputs.sequence that is not a list of token ids.")
    flag = data.get("potential_sequence_of_concern")
    return np.asarray(tokens, dtype=np.int64), None if flag is None else bool(flag)


def decode_sequence(data: dict[str, Any]) -> str:
    """The sequence of a `decode` result."""
    sequence = _outputs(data, "decode")["sequence"]
    if not isinstance(sequence, str):
        raise _bad("decode", f"has outputs.sequence of type {type(sequence).__name__}, not a string.")
    return sequence


def _array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, str):
        raise _bad("logits", f"has {name} as encoded bytes although JSON lists were asked (return_bytes=false).")
    try:
        return np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise _bad("logits", f"has {name} that is not a rectangular list of numbers.") from None


def logits_arrays(data: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The `logits` result for `config` (a `logits_config` dict) as LogitsOutput's fields: numpy
    float32 arrays exactly as the answer nests them (batch dimensions kept), None where not given;
    "sequence" is the sequence track's logits (ForwardTrackData.sequence); "sae_outputs" is left as
    answered (the SDK decodes it). An option asked for whose answer is missing is an error."""
    for key in ALWAYS_READ:
        if key not in data:
            raise _bad("logits", f"has no {key!r} (the esm SDK reads data[{key!r}] and fails with KeyError).",
                       "MissingKey")
    track = {} if data["logits"] is None else data["logits"]
    if not isinstance(track, dict):
        raise _bad("logits", "has 'logits' that is not an object of tracks.")
    out: dict[str, Any] = {"sequence": None}
    if track.get("sequence") is not None:
        out["sequence"] = _array(track["sequence"], "logits.sequence")
    elif config.get("sequence"):
        raise _bad("logits", "has no logits.sequence although sequence=True was asked.", "MissingKey")
    for flag, key, field in OUTPUTS:
        value = data.get(key)
        if value is None and config.get(flag):
            raise _bad("logits", f"has no {key!r} although {flag}=True was asked.", "MissingKey")
        out[field] = None if value is None else _array(value, key)
    out["sae_outputs"] = data.get("sae_outputs")
    if out["sae_outputs"] is None and config.get("sae_config"):
        raise _bad("logits", "has no 'sae_outputs' although sae_config was given.", "MissingKey")
    return out


# -- errors (pure) ----------------------------------------------------------------------------------------

def error_code(e: EsmctlError) -> int:
    """The HTTP status an `ESMProteinError` carries for a failed call (the SDK's convention: 404 not
    found, 429 throttled, the container's own status for a refused request, 500 otherwise)."""
    if isinstance(e, EndpointNotRunning):
        return 404
    code = str(getattr(e, "code", "") or "")
    if code in THROTTLED:
        return 429
    if code == "ModelError":  # "Received client error (422) from primary with message …"
        found = re.search(r"error \((\d{3})\) from", e.message)
        return int(found.group(1)) if found else 424
    if code == "RequestTooLarge":
        return 413
    status = re.fullmatch(r"HTTP (\d{3})", e.details.strip())
    if status and int(status.group(1)) >= 400:
        return int(status.group(1))
    return MALFORMED


def error_message(e: EsmctlError, api: str) -> str:
    """The `error_msg` of an `ESMProteinError`, worded as the SDK's ("Failure in API: …")."""
    return f"Failure in {api}: {e.message}" + (f" {e.hint}" if e.hint else "")


# -- the adapter ---------------------------------------------------------------------------------------

def _check_tensor_input(value: Any) -> None:
    """As esm/sdk/forge.py `_validate_protein_tensor_input`: only an ESMProteinTensor is taken."""
    from esm.sdk.api import ESMProteinError, ESMProteinTensor

    if isinstance(value, ESMProteinError):
        raise ValueError("Input must be an ESMProteinTensor instance, but received an ESMProteinError instead: "
                         f"{value.error_code} {value.error_msg}")
    if not isinstance(value, ESMProteinTensor):
        raise ValueError(f"Input must be an ESMProteinTensor instance, but received {type(value)} instead. "
                         "Use encode() API to encode an ESMProtein into ESMProteinTensor.")


def _fields(cls: Any) -> set[str]:
    return set(inspect.signature(cls).parameters)


class _EsmcOverEsmctl:
    """ESM C's client methods over `esmctl.client.Client`; `esm_client` mixes them into the SDK's
    `ESMCInferenceClient`, so the object passes `isinstance` checks of code written for the SDK."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.model = client.forge_model
        self.endpoint_name = client.endpoint_name
        self._limiter = client.limiter()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.endpoint_name} model={self.model}>"

    def _call(self, api: str, request: dict[str, Any]) -> dict[str, Any]:
        return self.client.call(api, request, limiter=self._limiter)

    @staticmethod
    def _error(e: EsmctlError, api: str) -> Any:
        from esm.sdk.api import ESMProteinError

        return ESMProteinError(error_code=error_code(e), error_msg=error_message(e, api))

    def encode(self, input: Any) -> Any:
        """ESMProtein → ESMProteinTensor (token ids), or ESMProteinError."""
        from esm.sdk.api import ESMProteinTensor
        from esm.utils.misc import maybe_tensor

        concern = bool(getattr(input, "potential_sequence_of_concern", False))
        try:
            data = self._call("encode", encode_request(input.sequence, self.model, concern=concern))
            tokens, flag = encode_tokens(data)
        except EsmctlError as e:
            return self._error(e, "encode")
        return ESMProteinTensor(sequence=maybe_tensor(tokens),
                                potential_sequence_of_concern=concern if flag is None else flag)

    def decode(self, input: Any) -> Any:
        """ESMProteinTensor → ESMProtein (its sequence), or ESMProteinError."""
        from esm.sdk.api import ESMProtein
        from esm.utils.misc import maybe_list

        _check_tensor_input(input)
        concern = bool(input.potential_sequence_of_concern)
        try:
            data = self._call("decode", decode_request(maybe_list(input.sequence), self.model, concern=concern))
            return ESMProtein(sequence=decode_sequence(data))
        except EsmctlError as e:
            return self._error(e, "decode")

    def logits(self, input: Any, config: Any = None, return_bytes: bool = True) -> Any:
        """ESMProteinTensor → LogitsOutput (what `config`, a LogitsConfig, asks), or ESMProteinError.
        `return_bytes` is accepted for the SDK's signature; answers are JSON lists either way."""
        from esm.sdk.api import ForwardTrackData, LogitsConfig, LogitsOutput
        from esm.utils.misc import maybe_list, maybe_tensor

        _check_tensor_input(input)
        config = LogitsConfig() if config is None else config
        request = logits_request(maybe_list(input.sequence), config, self.model,
                                 concern=bool(input.potential_sequence_of_concern))
        try:
            data = self._call("logits", request)
            arrays = logits_arrays(data, request["logits_config"])
        except EsmctlError as e:
            return self._error(e, "logits")
        fields: dict[str, Any] = {"logits": ForwardTrackData(sequence=maybe_tensor(arrays["sequence"]))}
        for _, _, field in OUTPUTS:
            fields[field] = maybe_tensor(arrays[field])
        fields["sae_outputs"] = _sae_outputs(arrays["sae_outputs"])
        have = _fields(LogitsOutput)
        return LogitsOutput(**{k: v for k, v in fields.items() if k in have})

    async def async_encode(self, input: Any) -> Any:
        return await asyncio.to_thread(self.encode, input)

    async def async_decode(self, input: Any) -> Any:
        return await asyncio.to_thread(self.decode, input)

    async def async_logits(self, input: Any, config: Any = None, return_bytes: bool = True) -> Any:
        return await asyncio.to_thread(self.logits, input, config, return_bytes)

    @property
    def raw_model(self) -> Any:
        raise NotImplementedError(f"Can not get underlying remote model {self.model} from a SageMaker endpoint "
                                  "client.")


def _sae_outputs(value: Any) -> Any:
    """SAE outputs as the SDK (3.2.2 … 3.3.0) reads them: a base64 string of serialized tensors,
    decoded with the SDK's own `deserialize_tensors`, as float32."""
    if not isinstance(value, str):
        return value
    import torch
    from esm.utils.misc import deserialize_tensors

    decoded = deserialize_tensors(base64.b64decode(value))
    return {k: v.to(torch.float32) for k, v in decoded.items()} if decoded else None


@functools.lru_cache(maxsize=8)
def adapter_class(base: type) -> type:
    """The adapter as a subclass of `base` (the installed SDK's ESMCInferenceClient)."""
    def body(ns: dict[str, Any]) -> None:
        ns.update(__module__=__name__, __qualname__="EsmctlESMCClient", __doc__=_EsmcOverEsmctl.__doc__)
    return types.new_class("EsmctlESMCClient", (_EsmcOverEsmctl, base), exec_body=body)


def esm_client(client: Client) -> Any:
    """An `esm.sdk.api.ESMCInferenceClient` calling `client`'s endpoint (needs the `esm` package)."""
    try:
        from esm.sdk.api import ESMCInferenceClient
    except ImportError as e:
        raise EsmctlError(f"esm=True needs the esm package ({e}).",
                          hint="pip install esm (it brings torch), or use the client without esm=True: "
                          "it returns numpy arrays.") from None
    return adapter_class(ESMCInferenceClient)(client)
