"""The sandbox's model container answers what the `esm` SDK's parsers read, in the shapes they expect.

SDK_READS below is taken from the SDK's sources (esm 3.2.1.post1 = the PyPI wheel, v3.2.2, v3.2.3 and
3.3.0 = Biohub/esm main b6b0e88, the parsers PyPI's 3.4.x ship): for each API, every key a parser
reads with `data[...]` (a missing one is a KeyError in the user's notebook), each entry citing file
and lines. Requests are built as the SDK builds them (`*_request` helpers, cited) and wrapped as
ESM3SageMakerClient._post wraps them, then sent through the patched moto in-process (`mock_aws`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from esmctl import vocab
from esmctl.sandbox import SandboxControl
from tests.sandbox.test_sandbox import ENDPOINT, deploy, wait_status

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQHDFSAGEGLYTHMKALRPDEDRLSPLHSVYVDQWDWERVMGDGERQFSTLKSTVEAIWAGIKATEAAVSEEFGLAPFLPDQIHFVHSQELLSRYPDLDAKGRERAIAKDLGAVFLVGIGGKLSDGHRHDVRAPDYDDWSTPSELGHAGLNGDILVWNPVLEDAFELSSMGIRVDADTLKHQLALTGDEDRLELEWHQALLRGEMPQTIGGGIGQSRLTMLLLQLPHIGQVQAGVWPAACRESVPALL"  # noqa: E501  E. coli AsnA, 330 residues
SHORT = "MKTAYIAKQRQISFVKSHFSRQ"
# All hidden states are big (31 × 960 numbers a token for esmc-300m, ~20 bytes each): beyond about 8
# residues (esmc-600m: 5) they exceed SageMaker's 6 MiB response limit, so shapes are checked on this.
TINY = "MK"
MODELS = [  # (forge model, d_model, hidden states = layers + 1): esm/pretrained.py ESMC_300M/600M_202412
    ("esmc-300m-2024-12", 960, 31),
    ("esmc-600m-2024-12", 1152, 37),
]


# ---------------------------------------------------------------------------------------------
# What the SDK reads. After ESM3SageMakerClient._post (esm/sdk/sagemaker.py:114 `assert
# data["endpoint"] == endpoint`, :117 `data = data[endpoint]`, identical in all four versions) the
# parsers read these keys of the API's result ("outputs.sequence" = data["outputs"]["sequence"]).


@dataclass(frozen=True)
class Reads:
    version: str
    where: str
    keys: tuple[str, ...]


_ESM3_ENCODE = ("outputs.sequence", "outputs.structure", "outputs.coordinates", "outputs.secondary_structure",
                "outputs.sasa", "outputs.function", "outputs.residue_annotation")
_ESM3_DECODE = ("outputs.sequence", "outputs.secondary_structure", "outputs.sasa", "outputs.function",
                "outputs.coordinates", "outputs.plddt", "outputs.ptm")
SDK_READS: dict[str, list[Reads]] = {
    "encode": [
        # esm 3.2.1.post1 esm/sdk/forge.py:554-565 ESM3ForgeInferenceClient._process_encode_response reads
        # data["outputs"]["sequence"|"structure"|"coordinates"|"secondary_structure"|"sasa"|"function"|
        # "residue_annotation"] (v3.2.2 and v3.2.3: the same at lines 513-524)
        Reads("3.2.1", "forge.py:554-565 ESM3ForgeInferenceClient._process_encode_response", _ESM3_ENCODE),
        # esm 3.2.1.post1 esm/sdk/forge.py:1076 ESMCForgeInferenceClient.encode reads data["outputs"]["sequence"]
        Reads("3.2.1", "forge.py:1076 ESMCForgeInferenceClient.encode", ("outputs.sequence",)),
        # esm 3.3.0 esm/sdk/forge.py:702-714 ESM3ForgeInferenceClient._process_encode_response: the same, plus
        # data["potential_sequence_of_concern"] (line 713)
        Reads("3.3.0", "forge.py:702-714 ESM3ForgeInferenceClient._process_encode_response",
              (*_ESM3_ENCODE, "potential_sequence_of_concern")),
        # esm 3.3.0 esm/sdk/forge.py:1237-1240 ESMCForgeInferenceClient.encode reads data["outputs"]["sequence"],
        # data["potential_sequence_of_concern"]
        Reads("3.3.0", "forge.py:1237-1240 ESMCForgeInferenceClient.encode",
              ("outputs.sequence", "potential_sequence_of_concern")),
    ],
    "decode": [
        # esm 3.2.1.post1 esm/sdk/forge.py:586-599 ESM3ForgeInferenceClient._process_decode_response reads
        # data["outputs"]["sequence"|"secondary_structure"|"sasa"|"function"|"coordinates"|"plddt"|"ptm"]
        # (v3.2.2/v3.2.3: lines 545-558; 3.3.0: lines 735-748, the same keys)
        Reads("3.2.1", "forge.py:586-599 ESM3ForgeInferenceClient._process_decode_response", _ESM3_DECODE),
        Reads("3.3.0", "forge.py:735-748 ESM3ForgeInferenceClient._process_decode_response", _ESM3_DECODE),
        # esm 3.2.1.post1 forge.py:1112 / 3.3.0 forge.py:1276 ESMCForgeInferenceClient.decode reads
        # data["outputs"]["sequence"] (a string: ESMProtein(sequence=...))
        Reads("3.3.0", "forge.py:1276 ESMCForgeInferenceClient.decode", ("outputs.sequence",)),
    ],
    "logits": [
        # esm 3.2.1.post1 esm/sdk/forge.py:634-665 ESM3ForgeInferenceClient._process_logits_response reads
        # data["logits"], data["embeddings"], data["hidden_states"] (logits of each track with .get)
        Reads("3.2.1", "forge.py:634-665 ESM3ForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states")),
        # esm 3.2.1.post1 esm/sdk/forge.py:1019-1044 ESMCForgeInferenceClient._process_logits_response: the same
        Reads("3.2.1", "forge.py:1019-1044 ESMCForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states")),
        # esm v3.2.2 esm/sdk/forge.py:595-620 ESM3ForgeInferenceClient._process_logits_response adds
        # data["mean_embedding"] (614) and data["mean_hidden_state"] (619)
        Reads("3.2.2", "forge.py:595-620 ESM3ForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states", "mean_embedding", "mean_hidden_state")),
        # esm v3.2.2 esm/sdk/forge.py:975-991 ESMCForgeInferenceClient._process_logits_response adds
        # data["mean_embedding"] (988) only
        Reads("3.2.2", "forge.py:975-991 ESMCForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states", "mean_embedding")),
        # esm v3.2.3 esm/sdk/forge.py:972-987 ESMCForgeInferenceClient._process_logits_response reads
        # data["logits"], ["embeddings"], ["hidden_states"], ["mean_embedding"], ["mean_hidden_state"]
        Reads("3.2.3", "forge.py:972-987 ESMCForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states", "mean_embedding", "mean_hidden_state")),
        # esm 3.3.0 esm/sdk/forge.py:1168-1201 ESMCForgeInferenceClient._process_logits_response reads
        # data["logits"], data["embeddings"], data["hidden_states"], data["sae_outputs"] (1184),
        # data["mean_embedding"], data["mean_hidden_state"]
        Reads("3.3.0", "forge.py:1168-1201 ESMCForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states", "sae_outputs", "mean_embedding", "mean_hidden_state")),
        # esm 3.3.0 esm/sdk/forge.py:785-806 ESM3ForgeInferenceClient._process_logits_response
        Reads("3.3.0", "forge.py:785-806 ESM3ForgeInferenceClient._process_logits_response",
              ("logits", "embeddings", "hidden_states", "mean_embedding", "mean_hidden_state")),
    ],
}
# Every key of a `logits` answer: the union of the above; null unless asked (`logits` is {}).
LOGITS_KEYS = {"logits", "embeddings", "hidden_states", "mean_embedding", "mean_hidden_state", "sae_outputs"}


# ---------------------------------------------------------------------------------------------
# Requests as the SDK builds them


def sagemaker_post(api: str, request: dict[str, Any], potential_sequence_of_concern: bool = False) -> bytes:
    """esm/sdk/sagemaker.py:78-117 ESM3SageMakerClient._post (identical in 3.2.1.post1 … 3.3.0): sets
    request["potential_sequence_of_concern"] and wraps the request; json.dumps is the body."""
    request["potential_sequence_of_concern"] = potential_sequence_of_concern
    return json.dumps({"model": request["model"], "request_id": "", "user_id": "", "api_ver": "v1",
                       "endpoint": api, api: request}).encode()


def esm3_encode_request(sequence: str, model: str) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:689-699 ESM3ForgeInferenceClient._process_encode_request (3.2.1: 541-551)."""
    return {"inputs": {"sequence": sequence, "secondary_structure": None, "sasa": None, "coordinates": None},
            "model": model}


def esmc_encode_request(sequence: str, model: str) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:1226-1230 ESMCForgeInferenceClient.encode (3.2.1: 1065-1069)."""
    return {"inputs": {"sequence": sequence}, "model": model}


def esm3_decode_request(tokens: list[int], model: str) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:717-732 ESM3ForgeInferenceClient._process_decode_request (3.2.1: 568-583)."""
    return {"model": model, "inputs": {"sequence": tokens, "structure": None, "secondary_structure": None,
                                       "sasa": None, "function": None, "residue_annotation": None,
                                       "coordinates": None}}


def esmc_decode_request(tokens: list[int], model: str) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:1263-1269 ESMCForgeInferenceClient.decode (3.2.1: 1099-1105)."""
    return {"model": model, "inputs": {"sequence": tokens}}


def esmc_logits_request(tokens: list[int], model: str, **config: Any) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:1142-1165 ESMCForgeInferenceClient._process_logits_request, with
    LogitsConfig's defaults (esm/sdk/api.py:415-437: every flag False, ith_hidden_layer -1, no SAE)."""
    logits_config = {"sequence": False, "return_embeddings": False, "return_mean_embedding": False,
                     "return_mean_hidden_states": False, "return_hidden_states": False, "ith_hidden_layer": -1,
                     "sae_config": None}
    logits_config.update(config)
    return {"model": model, "inputs": {"sequence": tokens}, "logits_config": logits_config}


def esm3_logits_request(tokens: list[int], model: str, **config: Any) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:751-782 ESM3ForgeInferenceClient._process_logits_request. (Through
    ESM3SageMakerClient it is never sent: ESM3ForgeInferenceClient.logits passes `headers=` to a
    `_post` that has no such parameter, a TypeError in 3.2.1 … 3.3.0; code of one's own may send it.)"""
    logits_config = {"sequence": False, "structure": False, "secondary_structure": False, "sasa": False,
                     "function": False, "residue_annotations": False, "return_embeddings": False,
                     "return_mean_embedding": False, "return_hidden_states": False,
                     "return_mean_hidden_states": False, "ith_hidden_layer": -1}
    logits_config.update(config)
    return {"model": model, "inputs": {"sequence": tokens, "structure": None, "secondary_structure": None,
                                       "sasa": None, "function": None, "coordinates": None,
                                       "residue_annotation": None},
            "logits_config": logits_config}


# ---------------------------------------------------------------------------------------------
# The SDK's parsers, emulated: the same data[...] reads, numpy in place of torch.


def _maybe_b64_decode(obj: Any, return_bytes: bool) -> Any:
    """esm v3.2.2 forge.py:45-50 / 3.3.0 forge.py:65-70: base64 strings are decoded, anything else
    (our JSON lists) passes through."""
    assert not (return_bytes and isinstance(obj, str)), "a base64 tensor: the sandbox answers lists"
    return obj


def _maybe_tensor(x: Any) -> Any:
    """esm/utils/misc.py maybe_tensor: torch.tensor(x), which needs a rectangular list."""
    return None if x is None else np.asarray(x, dtype=np.float64)


def _maybe_logits(data: dict[str, Any], track: str) -> Any:
    """esm 3.3.0 forge.py:61-62 `_maybe_logits`: data.get("logits", {}).get(track): `logits` must be an object."""
    return _maybe_tensor(data.get("logits", {}).get(track, None))


def parse_logits_3_3_esmc(data: dict[str, Any], return_bytes: bool) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:1168-1201 ESMCForgeInferenceClient._process_logits_response."""
    logits = _maybe_b64_decode(data["logits"], return_bytes)
    data["logits"] = dict(logits) if logits is not None else logits
    data["embeddings"] = _maybe_b64_decode(data["embeddings"], return_bytes)
    data["hidden_states"] = _maybe_b64_decode(data["hidden_states"], return_bytes)
    sae_outputs = data["sae_outputs"]
    assert not isinstance(sae_outputs, str)
    return {"sequence": _maybe_logits(data, "sequence"), "embeddings": _maybe_tensor(data["embeddings"]),
            "mean_embedding": data["mean_embedding"], "hidden_states": _maybe_tensor(data["hidden_states"]),
            "mean_hidden_state": _maybe_tensor(data["mean_hidden_state"]), "sae_outputs": sae_outputs}


def parse_logits_3_2_1_esm3(data: dict[str, Any], return_bytes: bool) -> dict[str, Any]:
    """esm 3.2.1.post1 esm/sdk/forge.py:634-665 ESM3ForgeInferenceClient._process_logits_response."""
    logits = _maybe_b64_decode(data["logits"], return_bytes)
    data["logits"] = dict(logits) if logits is not None else logits
    data["embeddings"] = _maybe_b64_decode(data["embeddings"], return_bytes)
    data["hidden_states"] = _maybe_b64_decode(data["hidden_states"], return_bytes)
    tracks = {t: data.get("logits", {}).get(t, None) for t in ("sequence", "structure", "secondary_structure",
                                                                "sasa", "function", "residue_annotation")}
    return {"sequence": _maybe_tensor(tracks["sequence"]), "embeddings": _maybe_tensor(data["embeddings"]),
            "hidden_states": _maybe_tensor(data["hidden_states"])}


def parse_logits_3_2_2_esmc(data: dict[str, Any], return_bytes: bool) -> dict[str, Any]:
    """esm v3.2.2 esm/sdk/forge.py:975-991 ESMCForgeInferenceClient._process_logits_response."""
    logits = _maybe_b64_decode(data["logits"], return_bytes)
    data["logits"] = dict(logits) if logits is not None else logits
    return {"sequence": _maybe_logits(data, "sequence"), "embeddings": _maybe_tensor(data["embeddings"]),
            "mean_embedding": data["mean_embedding"], "hidden_states": _maybe_tensor(data["hidden_states"])}


def parse_encode_3_3_esm3(data: dict[str, Any]) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:702-714 ESM3ForgeInferenceClient._process_encode_response."""
    outputs = data["outputs"]
    parsed = {key: _maybe_tensor(outputs[key]) for key in ("sequence", "structure", "coordinates",
                                                           "secondary_structure", "sasa", "function",
                                                           "residue_annotation")}
    return {**parsed, "potential_sequence_of_concern": data["potential_sequence_of_concern"]}


def parse_decode_3_3_esm3(data: dict[str, Any]) -> dict[str, Any]:
    """esm 3.3.0 esm/sdk/forge.py:735-748 ESM3ForgeInferenceClient._process_decode_response."""
    outputs = data["outputs"]
    return {"sequence": outputs["sequence"], "secondary_structure": outputs["secondary_structure"],
            "sasa": outputs["sasa"], "function": outputs["function"],
            "coordinates": _maybe_tensor(outputs["coordinates"]), "plddt": _maybe_tensor(outputs["plddt"]),
            "ptm": _maybe_tensor(outputs["ptm"])}


PARSERS: dict[str, list[Callable[..., dict[str, Any]]]] = {
    "encode": [parse_encode_3_3_esm3],
    "decode": [parse_decode_3_3_esm3],
    "logits": [parse_logits_3_3_esmc, parse_logits_3_2_1_esm3, parse_logits_3_2_2_esmc],
}


# ---------------------------------------------------------------------------------------------
# helpers


@pytest.fixture
def endpoint(sm: Any, mocked: SandboxControl) -> str:
    mocked.creating_seconds = 0  # InService at once: these tests are about what it answers
    deploy(sm)
    wait_status(sm, ENDPOINT, "InService")
    return ENDPOINT


def post(runtime: Any, api: str, request: dict[str, Any], *, return_bytes: bool = False,
         accept: str | None = None) -> dict[str, Any]:
    """The result under `api`, unwrapped as esm/sdk/sagemaker.py:114-117 does."""
    params: dict[str, Any] = {"EndpointName": ENDPOINT, "ContentType": "application/json",
                              "Body": sagemaker_post(api, request),
                              "CustomAttributes": "return_bytes=true" if return_bytes else "return_bytes=false"}
    if accept is not None:
        params["Accept"] = accept
    response = runtime.invoke_endpoint(**params)
    assert response["ContentType"] == "application/json"
    data = json.loads(response["Body"].read())
    assert data["endpoint"] == api
    result: dict[str, Any] = data[api]
    return result


def refusal(runtime: Any, api: str, request: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as info:
        post(runtime, api, request)
    response = info.value.response
    return {"code": response["Error"]["Code"], "status": response["ResponseMetadata"]["HTTPStatusCode"],
            "original": response.get("OriginalStatusCode"), "message": response["Error"]["Message"]}


def dims(value: Any) -> list[int] | None:
    """The shape of a nested list (numpy refuses ragged ones), None for null."""
    return None if value is None else list(np.asarray(value, dtype=np.float64).shape)


def read_keys(result: dict[str, Any], keys: tuple[str, ...]) -> None:
    for key in keys:
        node: Any = result
        for part in key.split("."):
            node = node[part]


def expected_shapes(config: dict[str, Any], tokens: int, width: int, hidden: int) -> dict[str, Any]:
    layers = hidden if config.get("ith_hidden_layer", -1) == -1 else 1
    return {
        "logits": {"sequence": [1, tokens, 64]} if config.get("sequence") else {},
        "embeddings": [1, tokens, width] if config.get("return_embeddings") else None,
        "hidden_states": [layers, 1, tokens, width] if config.get("return_hidden_states") else None,
        "mean_embedding": [1, width] if config.get("return_mean_embedding") else None,
        "mean_hidden_state": [layers, 1, width] if config.get("return_mean_hidden_states") else None,
        "sae_outputs": None,
    }


def shapes_of(result: dict[str, Any]) -> dict[str, Any]:
    logits = result["logits"]
    return {"logits": {track: dims(v) for track, v in logits.items()},
            **{key: dims(result[key]) for key in sorted(LOGITS_KEYS - {"logits"})}}


# ---------------------------------------------------------------------------------------------
# encode and decode


@pytest.mark.parametrize("build", [esm3_encode_request, esmc_encode_request])
def test_encode_answers_every_key_the_sdk_reads(runtime: Any, endpoint: str,
                                                build: Callable[[str, str], dict[str, Any]]) -> None:
    result = post(runtime, "encode", build(SHORT, "esmc-300m-2024-12"))
    for reads in SDK_READS["encode"]:
        read_keys(result, reads.keys)
    assert set(result) == {"outputs", "potential_sequence_of_concern"}
    assert set(result["outputs"]) == {key.split(".")[1] for key in _ESM3_ENCODE}
    assert result["outputs"]["sequence"] == vocab.tokenize(SHORT)
    assert result["outputs"]["sequence"][0] == 0 and result["outputs"]["sequence"][-1] == 2
    assert len(result["outputs"]["sequence"]) == len(SHORT) + 2
    assert result["potential_sequence_of_concern"] is False
    assert all(result["outputs"][key] is None for key in result["outputs"] if key != "sequence")
    for parse in PARSERS["encode"]:
        parse(result)


def test_encode_echoes_potential_sequence_of_concern(runtime: Any, endpoint: str) -> None:
    request = esmc_encode_request(SHORT, "esmc-300m-2024-12")
    body = sagemaker_post("encode", request, potential_sequence_of_concern=True)
    data = json.loads(runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json",
                                              Body=body)["Body"].read())
    assert data["encode"]["potential_sequence_of_concern"] is True


@pytest.mark.parametrize("build", [esm3_decode_request, esmc_decode_request])
def test_decode_answers_the_sequence_and_every_key_the_sdk_reads(runtime: Any, endpoint: str,
                                                                 build: Callable[..., dict[str, Any]]) -> None:
    tokens = post(runtime, "encode", esmc_encode_request(SHORT + "_X", "esmc-300m-2024-12"))["outputs"]["sequence"]
    result = post(runtime, "decode", build(tokens, "esmc-300m-2024-12"))
    for reads in SDK_READS["decode"]:
        read_keys(result, reads.keys)
    assert set(result) == {"outputs"}
    assert set(result["outputs"]) == {"sequence", "structure", "coordinates", "secondary_structure", "sasa",
                                      "function", "plddt", "ptm", "residue_annotation"}
    assert result["outputs"]["sequence"] == SHORT + "_X"  # BOS and EOS dropped, the mask shown as "_"
    assert all(result["outputs"][key] is None for key in result["outputs"] if key != "sequence")
    for parse in PARSERS["decode"]:
        parse(result)


# ---------------------------------------------------------------------------------------------
# logits: every option and the combinations that matter, on both models

CONFIGS: list[dict[str, Any]] = [
    {},  # LogitsConfig(): nothing asked
    {"sequence": True},
    {"return_embeddings": True},
    {"return_hidden_states": True},
    {"return_hidden_states": True, "ith_hidden_layer": 0},
    {"return_hidden_states": True, "ith_hidden_layer": "last"},
    {"return_mean_embedding": True},
    {"return_mean_hidden_states": True},
    {"return_mean_hidden_states": True, "ith_hidden_layer": 12},
    {"sequence": True, "return_mean_embedding": True, "return_mean_hidden_states": True},  # cookbook/embed.ipynb
    {"sequence": True, "return_embeddings": True, "return_hidden_states": True, "return_mean_embedding": True,
     "return_mean_hidden_states": True},
]


@pytest.mark.parametrize(("model", "width", "hidden"), MODELS)
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "+".join(f"{k}={v}" for k, v in c.items()) or "none")
def test_logits_keys_and_shapes(runtime: Any, endpoint: str, model: str, width: int, hidden: int,
                                config: dict[str, Any]) -> None:
    config = {k: (hidden - 1 if v == "last" else v) for k, v in config.items()}
    tokens = vocab.tokenize(TINY)
    result = post(runtime, "logits", esmc_logits_request(tokens, model, **config))
    assert set(result) == LOGITS_KEYS
    for reads in SDK_READS["logits"]:
        read_keys(result, reads.keys)
    assert shapes_of(result) == expected_shapes(config, len(tokens), width, hidden)
    for parse in PARSERS["logits"]:
        parse(json.loads(json.dumps(result)), False)


def test_logits_without_a_config_answers_nothing_but_the_keys(runtime: Any, endpoint: str) -> None:
    request = {"model": "esmc-300m-2024-12", "inputs": {"sequence": vocab.tokenize(SHORT)}}
    result = post(runtime, "logits", request)
    assert result == {"logits": {}, "embeddings": None, "hidden_states": None, "mean_embedding": None,
                      "mean_hidden_state": None, "sae_outputs": None}


def test_esm3_shaped_logits_request_and_return_bytes(runtime: Any, endpoint: str) -> None:
    """ESM3's request (other tracks null, their logits flags false), `return_bytes=true` and the
    Forge client's Accept: plain JSON lists, which every parser passes through."""
    tokens = vocab.tokenize(SHORT)
    accept = "application/vnd.evolutionaryscale.pickle;protocol=5, application/json"
    result = post(runtime, "logits", esm3_logits_request(tokens, "esmc-600m-2024-12", sequence=True,
                                                         return_mean_embedding=True),
                  return_bytes=True, accept=accept)
    assert shapes_of(result) == expected_shapes({"sequence": True, "return_mean_embedding": True},
                                                len(tokens), 1152, 37)
    for parse in PARSERS["logits"]:
        parse(json.loads(json.dumps(result)), True)


def test_logits_values(runtime: Any, endpoint: str) -> None:
    def embed(sequence: str, model: str = "esmc-300m-2024-12", **more: bool) -> dict[str, Any]:
        return post(runtime, "logits", esmc_logits_request(
            vocab.tokenize(sequence), model, sequence=True, return_embeddings=True, return_mean_embedding=True,
            **more))

    first, again, other = embed(SHORT), embed(SHORT), embed(SHORT[:-1] + "W")
    assert first == again  # deterministic per sequence
    assert first["mean_embedding"] != other["mean_embedding"] and first["embeddings"] != other["embeddings"]
    assert embed(SHORT, "esmc-600m-2024-12")["mean_embedding"] != first["mean_embedding"]
    embeddings = np.asarray(first["embeddings"][0])
    # The mean over the residues, BOS and EOS excluded, to float32 precision.
    assert np.allclose(np.asarray(first["mean_embedding"][0]), embeddings[1:-1].mean(axis=0), atol=1e-6)
    assert not np.allclose(np.asarray(first["mean_embedding"][0]), embeddings.mean(axis=0), atol=1e-6)
    # The sequence logits score the input token highest.
    assert [int(np.argmax(row)) for row in first["logits"]["sequence"][0]] == vocab.tokenize(SHORT)
    # A mean embedding alone equals the one computed with everything else.
    alone = post(runtime, "logits", esmc_logits_request(vocab.tokenize(SHORT), "esmc-300m-2024-12",
                                                        return_mean_embedding=True))
    assert alone["mean_embedding"] == first["mean_embedding"]
    # The last hidden state is the embeddings; each mean hidden state is its hidden state's mean.
    tiny = embed(TINY, return_hidden_states=True, return_mean_hidden_states=True)
    hidden = np.asarray(tiny["hidden_states"])[:, 0]
    assert np.array_equal(hidden[-1], np.asarray(tiny["embeddings"][0]))
    assert np.allclose(np.asarray(tiny["mean_hidden_state"])[:, 0], hidden[:, 1:-1].mean(axis=1), atol=1e-5)
    assert tiny["mean_hidden_state"][-1] == tiny["mean_embedding"]


def test_numbers_are_float32_printed_as_python_floats(runtime: Any, endpoint: str) -> None:
    raw = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="application/json", Body=sagemaker_post(
        "logits", esmc_logits_request(vocab.tokenize(SHORT), "esmc-300m-2024-12", return_embeddings=True)))
    body = raw["Body"].read()
    values = json.loads(body)["logits"]["embeddings"][0][5]
    assert all(float(np.float32(v)) == v for v in values)
    # ~20 bytes a number, as a float32 tensor's tolist() serializes: 330 residues of esmc-300m > 6 MiB.
    assert len(body) / ((len(SHORT) + 2) * 960) > 18


@pytest.mark.parametrize(("config", "status", "text"), [
    ({"return_hidden_states": True, "ith_hidden_layer": 31}, 422, "within 0..30"),
    ({"return_hidden_states": True, "ith_hidden_layer": -2}, 422, "within 0..30"),
    ({"sae_config": {"models": ["x"], "normalize_features": True}}, 422, "SAE outputs are not served"),
])
def test_logits_refusals_are_model_errors(runtime: Any, endpoint: str, config: dict[str, Any], status: int,
                                          text: str) -> None:
    error = refusal(runtime, "logits", esmc_logits_request(vocab.tokenize(SHORT), "esmc-300m-2024-12", **config))
    assert (error["code"], error["status"], error["original"]) == ("ModelError", 424, status)
    assert text in error["message"]


def test_refused_tokens_and_accept(runtime: Any, endpoint: str) -> None:
    too_long = [0, *([5] * (vocab.MAX_RESIDUES + 1)), 2]
    for tokens in ("MKT", [0, 64, 2], too_long):
        error = refusal(runtime, "logits", esmc_logits_request(tokens, "esmc-300m-2024-12"))  # type: ignore[arg-type]
        assert (error["code"], error["original"]) == ("ModelError", 422)
    with pytest.raises(ClientError) as info:
        post(runtime, "encode", esmc_encode_request(SHORT, "esmc-300m-2024-12"), accept="text/csv")
    assert info.value.response["OriginalStatusCode"] == 406
