"""esmctl.esm_compat: the esm SDK's ESMCInferenceClient over esmctl's client.

The test environment has neither `esm` nor torch, so:
- the pure parts (requests from any version's LogitsConfig, answers → arrays, errors → HTTP
  status) are tested against the sandbox's stand-in container (`esmctl.sandbox.forge.answer`, in
  process, no AWS);
- the adapter itself runs over a small fake `esm` + `torch` whose classes copy the field lists of
  esm/sdk/api.py at 3.2.1.post1 and at 3.3.0 (`FIELDS` below) and whose `maybe_tensor` /
  `maybe_list` copy esm/utils/misc.py: it checks what the adapter decides (which fields, which
  errors), not the SDK;
- `test_real_sdk_*` run when `esm` and torch are installed and compare the adapter with the real
  SDK's own parser (`ESMCForgeInferenceClient._process_logits_response`) on the same answers.
"""

from __future__ import annotations

import abc
import asyncio
import dataclasses
import json
import sys
import types
from typing import Any

import numpy as np
import pytest

from esmctl import esm_compat
from esmctl.client import CallFailed, Client, EndpointNotRunning, envelope
from esmctl.errors import EsmctlError
from esmctl.sandbox import forge

MODEL = "esmc-300m-2024-12"
WIDTH, STATES = 960, 31  # esmc-300m: d_model, hidden states (30 blocks + the embedding layer)
SEQ = "MKTAYIAKQR"
L = len(SEQ) + 2  # BOS and EOS


def container(body: bytes, attributes: str) -> bytes:
    """The sandbox's stand-in container as a transport; a refusal becomes SageMaker's ModelError."""
    try:
        return forge.answer(body)
    except forge.ForgeError as e:
        raise CallFailed(f'InvokeEndpoint e: ModelError: Received client error ({e.status}) from primary with '
                         f'message "{e.body}".', code="ModelError", details="HTTP 424") from None


def make_client(transport: Any = container) -> Client:
    return Client(transport, endpoint_name="e", forge_model=MODEL, sleep=lambda s: None)


def result(api: str, request: dict[str, Any]) -> dict[str, Any]:
    return make_client().call(api, request)


def config(**kw: Any) -> types.SimpleNamespace:
    """A LogitsConfig of esm 3.2.1.post1: no mean options, no sae_config (esm/sdk/api.py)."""
    fields = dict(sequence=False, structure=False, secondary_structure=False, sasa=False, function=False,
                  residue_annotations=False, return_embeddings=False, return_hidden_states=False,
                  ith_hidden_layer=-1)
    return types.SimpleNamespace(**(fields | kw))


# -- the pure parts, against the stand-in container ----------------------------------------------------

def test_a_logits_config_of_an_older_sdk_asks_nothing_it_cannot_express() -> None:
    req = esm_compat.logits_request([0, 20, 2], config(sequence=True, return_embeddings=True), MODEL)
    assert req == {"model": MODEL, "inputs": {"sequence": [0, 20, 2]}, "potential_sequence_of_concern": False,
                   "logits_config": {"sequence": True, "return_embeddings": True, "return_mean_embedding": False,
                                     "return_mean_hidden_states": False, "return_hidden_states": False,
                                     "ith_hidden_layer": -1, "sae_config": None}}


def test_a_newer_config_sends_its_means_layer_and_sae_config_as_esm_3_3_does() -> None:
    sae = types.SimpleNamespace(models=["esmc-300m-sae"], normalize_features=False)
    cfg = config(return_mean_embedding=True, return_mean_hidden_states=True, ith_hidden_layer=4, sae_config=sae)
    sent = esm_compat.logits_config(cfg)
    assert sent["return_mean_embedding"] and sent["return_mean_hidden_states"] and sent["ith_hidden_layer"] == 4
    assert sent["sae_config"] == {"models": ["esmc-300m-sae"], "normalize_features": False}


def test_encode_and_decode_answers_give_token_ids_and_the_sequence_back() -> None:
    tokens, flag = esm_compat.encode_tokens(result("encode", esm_compat.encode_request(SEQ, MODEL, concern=True)))
    assert tokens.dtype == np.int64 and tokens.shape == (L,) and tokens[0] == 0 and tokens[-1] == 2
    assert flag is True  # echoed back, as esm 3.2.2+ reads it
    data = result("decode", esm_compat.decode_request(tokens.tolist(), MODEL))
    assert esm_compat.decode_sequence(data) == SEQ


def test_logits_keep_the_batch_dimensions_the_sdk_keeps() -> None:
    everything = config(sequence=True, return_embeddings=True, return_hidden_states=True,
                        return_mean_embedding=True, return_mean_hidden_states=True)
    request = esm_compat.logits_request(forge.tokenize(SEQ), everything, MODEL)
    arrays = esm_compat.logits_arrays(result("logits", request), request["logits_config"])
    shapes = {k: v.shape for k, v in arrays.items() if isinstance(v, np.ndarray)}
    assert shapes == {"sequence": (1, L, 64), "embeddings": (1, L, WIDTH), "hidden_states": (STATES, 1, L, WIDTH),
                      "mean_embedding": (1, WIDTH), "mean_hidden_state": (STATES, 1, WIDTH)}
    assert all(v.dtype == np.float32 for v in arrays.values() if isinstance(v, np.ndarray))
    assert arrays["sae_outputs"] is None


def test_one_hidden_layer_and_nothing_asked() -> None:
    cfg = config(return_hidden_states=True, ith_hidden_layer=7)
    data = result("logits", esm_compat.logits_request(forge.tokenize(SEQ), cfg, MODEL))
    arrays = esm_compat.logits_arrays(data, esm_compat.logits_config(cfg))
    assert arrays["hidden_states"].shape == (1, 1, L, WIDTH)
    assert arrays["sequence"] is None and arrays["embeddings"] is None and arrays["mean_embedding"] is None
    nothing = esm_compat.logits_config(config())
    none = esm_compat.logits_arrays(result("logits", esm_compat.logits_request(forge.tokenize(SEQ), config(), MODEL)),
                                    nothing)
    assert all(v is None for v in none.values())


@pytest.mark.parametrize(("answer", "asked", "code", "words"), [
    ({"logits": {}, "embeddings": None}, {}, "MissingKey", "no 'hidden_states'"),
    ({"logits": {}, "embeddings": None, "hidden_states": None}, {"return_embeddings": True}, "MissingKey",
     "return_embeddings=True"),
    ({"logits": None, "embeddings": None, "hidden_states": None}, {"sequence": True}, "MissingKey",
     "logits.sequence"),
    ({"logits": {}, "embeddings": "KLUv/QBY", "hidden_states": None}, {"return_embeddings": True}, "BadAnswer",
     "encoded bytes"),
    ({"logits": {}, "embeddings": [[[1.0], [2.0, 3.0]]], "hidden_states": None}, {}, "BadAnswer", "rectangular"),
    ({"logits": [], "embeddings": None, "hidden_states": None}, {}, "BadAnswer", "object of tracks"),
])
def test_an_answer_the_sdk_could_not_read_is_named(answer: dict[str, Any], asked: dict[str, Any], code: str,
                                                   words: str) -> None:
    with pytest.raises(CallFailed) as e:
        esm_compat.logits_arrays(answer, asked)
    assert e.value.code == code and words in e.value.message
    assert esm_compat.error_code(e.value) == esm_compat.MALFORMED


@pytest.mark.parametrize(("error", "status"), [
    (EndpointNotRunning("p is stopped"), 404),
    (CallFailed("throttled", code="ThrottlingException", details="HTTP 400"), 429),
    (CallFailed('InvokeEndpoint e: ModelError: Received client error (422) from primary with message "{}".',
                code="ModelError", details="HTTP 424"), 422),
    (CallFailed("ModelError without a status", code="ModelError", details="HTTP 424"), 424),
    (CallFailed("too big", code="RequestTooLarge"), 413),
    (CallFailed("denied", code="AccessDeniedException", details="HTTP 403"), 403),
    (CallFailed("still failing", code="ServiceUnavailable", details="HTTP 503"), 503),
    (EsmctlError("no credentials"), 500),
])
def test_failures_carry_the_http_status_the_sdk_would(error: EsmctlError, status: int) -> None:
    assert esm_compat.error_code(error) == status
    error.hint = "Next step."
    assert esm_compat.error_message(error, "logits") == f"Failure in logits: {error.message} Next step."


# -- the adapter, over a fake esm + torch ---------------------------------------------------------------

# Field lists of esm/sdk/api.py (attrs classes) that the adapter depends on.
FIELDS = {
    "3.2.1.post1": {
        "LogitsConfig": ["sequence", "structure", "secondary_structure", "sasa", "function", "residue_annotations",
                         "return_embeddings", "return_hidden_states", "ith_hidden_layer"],
        "LogitsOutput": ["logits", "embeddings", "residue_annotation_logits", "hidden_states"],
    },
    "3.3.0": {
        "LogitsConfig": ["sequence", "structure", "secondary_structure", "sasa", "function", "residue_annotations",
                         "return_embeddings", "return_hidden_states", "return_mean_embedding",
                         "return_mean_hidden_states", "ith_hidden_layer", "sae_config"],
        "LogitsOutput": ["logits", "embeddings", "mean_embedding", "residue_annotation_logits", "hidden_states",
                         "mean_hidden_state", "sae_outputs"],
    },
}


class FakeTensor:
    """What the adapter and its callers touch of a torch.Tensor."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def dtype(self) -> Any:
        return self.array.dtype

    def tolist(self) -> Any:
        return self.array.tolist()


def fake_esm(monkeypatch: pytest.MonkeyPatch, version: str) -> types.SimpleNamespace:
    torch = types.ModuleType("torch")
    torch.Tensor = FakeTensor  # type: ignore[attr-defined]
    torch.tensor = lambda x: FakeTensor(np.array(x))  # type: ignore[attr-defined]
    torch.stack = lambda xs: FakeTensor(np.stack([x.array for x in xs]))  # type: ignore[attr-defined]

    def maybe_tensor(x: Any, convert_none_to_nan: bool = False) -> Any:  # esm/utils/misc.py
        if x is None:
            return None
        if isinstance(x, list) and all(isinstance(t, FakeTensor) for t in x):
            return torch.stack(x)
        return torch.tensor(x)

    def maybe_list(x: Any, convert_nan_to_none: bool = False) -> Any:
        return None if x is None else x.tolist()

    class ProteinType(abc.ABC):  # noqa: B024 - as in esm/sdk/api.py
        pass

    @dataclasses.dataclass
    class ESMProtein(ProteinType):
        sequence: str | None = None
        potential_sequence_of_concern: bool = False

    @dataclasses.dataclass
    class ESMProteinTensor(ProteinType):
        sequence: Any = None
        structure: Any = None
        potential_sequence_of_concern: bool = False

    class ESMProteinError(Exception, ProteinType):
        def __init__(self, error_code: int, error_msg: str) -> None:
            super().__init__(error_code, error_msg)
            self.error_code, self.error_msg = error_code, error_msg

    class ESMCInferenceClient(abc.ABC):  # noqa: B024 - as in esm/sdk/api.py
        def encode(self, input: Any) -> Any:
            raise NotImplementedError

        def logits(self, input: Any, config: Any = None) -> Any:
            raise NotImplementedError

        @property
        def raw_model(self) -> Any:
            raise NotImplementedError

    config_fields = FIELDS[version]["LogitsConfig"]
    LogitsConfig = dataclasses.make_dataclass("LogitsConfig", [
        (f, Any, dataclasses.field(default=-1 if f == "ith_hidden_layer" else None if f == "sae_config" else False))
        for f in config_fields])
    LogitsOutput = dataclasses.make_dataclass("LogitsOutput", [
        (f, Any, dataclasses.field(default=None)) for f in FIELDS[version]["LogitsOutput"]])
    ForwardTrackData = dataclasses.make_dataclass("ForwardTrackData", [
        (f, Any, dataclasses.field(default=None)) for f in ("sequence", "structure", "secondary_structure", "sasa",
                                                            "function")])
    api = types.ModuleType("esm.sdk.api")
    for cls in (ESMProtein, ESMProteinTensor, ESMProteinError, ESMCInferenceClient, LogitsConfig, LogitsOutput,
                ForwardTrackData):
        setattr(api, cls.__name__, cls)
    misc = types.ModuleType("esm.utils.misc")
    misc.maybe_tensor, misc.maybe_list = maybe_tensor, maybe_list  # type: ignore[attr-defined]
    modules = {"torch": torch, "esm": types.ModuleType("esm"), "esm.sdk": types.ModuleType("esm.sdk"),
               "esm.sdk.api": api, "esm.utils": types.ModuleType("esm.utils"), "esm.utils.misc": misc}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(**{cls.__name__: cls for cls in (
        ESMProtein, ESMProteinTensor, ESMProteinError, ESMCInferenceClient, LogitsConfig, LogitsOutput)})


@pytest.mark.parametrize("version", sorted(FIELDS))
def test_the_notebook_flow_over_the_adapter(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    esm = fake_esm(monkeypatch, version)
    client = esm_compat.esm_client(make_client())
    assert isinstance(client, esm.ESMCInferenceClient) and client.model == MODEL
    protein_tensor = client.encode(esm.ESMProtein(sequence=SEQ))
    assert isinstance(protein_tensor, esm.ESMProteinTensor) and protein_tensor.sequence.shape == (L,)
    assert protein_tensor.sequence.dtype == np.int64
    assert client.decode(protein_tensor).sequence == SEQ

    out = client.logits(protein_tensor, esm.LogitsConfig(sequence=True, return_embeddings=True,
                                                         return_hidden_states=True))
    assert isinstance(out, esm.LogitsOutput)
    assert out.logits.sequence.shape == (1, L, 64) and out.embeddings.shape == (1, L, WIDTH)
    assert out.hidden_states.shape == (STATES, 1, L, WIDTH)
    if version == "3.3.0":  # the mean fields exist: filled when asked
        assert out.mean_embedding is None
        means = client.logits(protein_tensor, esm.LogitsConfig(return_mean_embedding=True,
                                                               return_mean_hidden_states=True))
        assert means.mean_embedding.shape == (1, WIDTH) and means.mean_hidden_state.shape == (STATES, 1, WIDTH)
    else:  # an older LogitsOutput has no such fields: none is passed
        assert not hasattr(out, "mean_embedding")
    nothing = client.logits(protein_tensor)  # LogitsConfig()'s defaults ask for nothing
    assert nothing.logits.sequence is None and nothing.embeddings is None


def test_async_variants_run_the_same_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    esm = fake_esm(monkeypatch, "3.3.0")
    client = esm_compat.esm_client(make_client())

    async def flow() -> list[Any]:
        tensors = await asyncio.gather(*(client.async_encode(esm.ESMProtein(sequence=SEQ[:n])) for n in (3, 5, 8)))
        outs = await asyncio.gather(*(client.async_logits(t, esm.LogitsConfig(return_embeddings=True))
                                      for t in tensors))
        back = await client.async_decode(tensors[0])
        return [o.embeddings.shape for o in outs] + [back.sequence]

    assert asyncio.run(flow()) == [(1, 5, WIDTH), (1, 7, WIDTH), (1, 10, WIDTH), SEQ[:3]]
    assert client.client.calls == 7


def test_failures_are_returned_as_esm_protein_errors_and_bad_input_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    esm = fake_esm(monkeypatch, "3.3.0")
    client = esm_compat.esm_client(make_client())
    protein_tensor = client.encode(esm.ESMProtein(sequence=SEQ))
    refused = client.logits(protein_tensor, esm.LogitsConfig(return_hidden_states=True, ith_hidden_layer=99))
    assert isinstance(refused, esm.ESMProteinError) and refused.error_code == 422
    assert refused.error_msg.startswith("Failure in logits: ")
    with pytest.raises(ValueError, match="ESMProteinError instead: 422"):
        client.logits(refused)  # as the SDK: an error passed on is a ValueError, not a request
    with pytest.raises(ValueError, match="Use encode"):
        client.decode(esm.ESMProtein(sequence=SEQ))
    with pytest.raises(NotImplementedError):
        _ = client.raw_model

    def throttled(body: bytes, attributes: str) -> bytes:
        raise CallFailed("InvokeEndpoint e: ThrottlingException: None", code="ThrottlingException", retryable=True)
    slow = esm_compat.esm_client(Client(throttled, endpoint_name="e", forge_model=MODEL, deadline=1.0,
                                        sleep=lambda s: None, clock=iter(range(0, 10_000)).__next__))
    error = slow.encode(esm.ESMProtein(sequence=SEQ))
    assert isinstance(error, esm.ESMProteinError) and error.error_code == 429
    assert "still failed after" in error.error_msg  # esmctl's client retried before giving up


def test_without_esm_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "esm", None)  # import esm → ImportError
    with pytest.raises(EsmctlError, match="needs the esm package") as e:
        esm_compat.esm_client(make_client())
    assert "pip install esm" in e.value.hint


# -- the real SDK, when installed -----------------------------------------------------------------------

def test_real_sdk_parses_the_same_answers_to_the_same_tensors() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("esm")
    import inspect

    import torch
    from esm.sdk.api import ESMCInferenceClient, ESMProtein, LogitsConfig, LogitsOutput
    from esm.sdk.forge import ESMCForgeInferenceClient as Forge

    client = esm_compat.esm_client(make_client())
    assert isinstance(client, ESMCInferenceClient)
    tensor = client.encode(ESMProtein(sequence=SEQ))
    assert client.decode(tensor).sequence == SEQ
    have = set(inspect.signature(LogitsConfig).parameters)
    asked = {"sequence": True, "return_embeddings": True, "return_hidden_states": True}
    asked |= {k: True for k in ("return_mean_embedding", "return_mean_hidden_states") if k in have}
    for cfg in (LogitsConfig(**asked), LogitsConfig(return_hidden_states=True, ith_hidden_layer=3)):
        body = Forge._process_logits_request(tensor, cfg, MODEL)
        data = json.loads(forge.answer(json.dumps(envelope("logits", body)).encode()))["logits"]
        theirs = Forge._process_logits_response(data, True)
        ours = client.logits(tensor, cfg)
        assert isinstance(ours, LogitsOutput)
        assert torch.equal(theirs.logits.sequence, ours.logits.sequence) if cfg.sequence else True
        for name in ("embeddings", "hidden_states", "mean_embedding", "mean_hidden_state"):
            a, b = getattr(theirs, name, None), getattr(ours, name, None)
            if a is not None:  # esm 3.2.2 asks for mean_hidden_state but its parser does not read it
                assert torch.equal(torch.as_tensor(a), b), name
