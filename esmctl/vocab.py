"""What the ESM C models read and answer: the sequence vocabulary, each model's widths, and the
limits of a SageMaker real-time invocation.

Shared by the client (`esmctl.client`, which tokenizes locally so that one `logits` request per
protein is enough) and the sandbox's stand-in container (`esmctl.sandbox.forge`). Pure Python.

Sources:
- vocabulary: `esm/utils/constants/esm3.py` SEQUENCE_VOCAB (esm 3.2.1.post1 … 3.3.0): special
  tokens `<cls>` `<pad>` `<eos>` `<unk>`, then residues from id 4, `.` `-` `|` and `<mask>`;
  the sequence logits are 64 wide (`esm/models/esmc.py`, `RegressionHead(d_model, 64)`).
- widths: `esm/pretrained.py` ESMC_300M_202412 (d_model=960, n_layers=30), ESMC_600M_202412
  (d_model=1152, n_layers=36); 6B from the Forge model page (2560, 80). The hidden states the
  Forge API returns hold one more entry than blocks (the embedding layer): esmc-300m's
  `mean_hidden_state` squeezes to [31, 960] in `cookbook/tutorials/embed.ipynb` (Biohub/esm).
- InvokeEndpoint limits: request and response payloads at most 6 MB (6,291,456 bytes), 60 s
  per call (SageMaker quotas, "Amazon SageMaker endpoints and quotas").
"""

from __future__ import annotations

from dataclasses import dataclass

SEQUENCE_VOCAB = (
    "<cls>", "<pad>", "<eos>", "<unk>",
    "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q", "N", "F", "Y", "M", "H", "W", "C",
    "X", "B", "U", "Z", "O", ".", "-", "|", "<mask>",
)
BOS, PAD, EOS, UNK = 0, 1, 2, 3
MASK = SEQUENCE_VOCAB.index("<mask>")
LOGITS_WIDTH = 64
# Letters a protein record may hold: the 20 amino acids, the ambiguity codes and X.
RESIDUES = frozenset("ACDEFGHIKLMNPQRSTVWYXBUZO")
# What a sequence sent to the model may also hold: "_" mask, "|" chain break, "-" and "." gaps.
SEQUENCE_ALPHABET = RESIDUES | frozenset("_|-.")
# The longest sequence (residues) one request carries: the models' training context. Longer ones
# are split into windows by the client (`esmctl.client`), never sent whole.
MAX_RESIDUES = 2048

LENGTH_LIMIT = 50_000  # residues; longer records are refused (titin, the longest known protein, has ~35,000)
INVOKE_MAX_BYTES = 6 * 1024 * 1024
INVOKE_TIMEOUT_SECONDS = 60.0

_TOKEN = {token: index for index, token in enumerate(SEQUENCE_VOCAB) if len(token) == 1} | {"_": MASK}
_LETTER = {index: token for index, token in enumerate(SEQUENCE_VOCAB) if len(token) == 1} | {MASK: "_", UNK: "X"}


@dataclass(frozen=True)
class ModelShape:
    """The sizes of one model's answers."""

    family: str
    width: int  # d_model: one embedding is this many numbers
    layers: int  # transformer blocks; hidden states hold layers + 1 entries

    @property
    def hidden_states(self) -> int:
        return self.layers + 1

    def has_layer(self, layer: int) -> bool:
        """A hidden state one can ask for (`ith_hidden_layer`): 0 (the embedding layer) … layers."""
        return 0 <= layer <= self.layers

    @property
    def layers_hint(self) -> str:
        return f"Pick 0 … {self.layers} (0 is the embedding layer, {self.layers} the last block)."


MODELS = {
    "esmc-300m": ModelShape("esmc-300m", 960, 30),
    "esmc-600m": ModelShape("esmc-600m", 1152, 36),
    "esmc-6b": ModelShape("esmc-6b", 2560, 80),
}


def shape_of(forge_model: str) -> ModelShape:
    """The shape of a Forge model name such as `esmc-300m-2024-12`; esmc-300m's for unknown names."""
    name = forge_model.lower()
    for family, shape in MODELS.items():
        if name.startswith(family):
            return shape
    return MODELS["esmc-300m"]


def tokenize(sequence: str) -> list[int]:
    """Token ids as the model's `encode` gives them: BOS, one id per letter (unknown → UNK), EOS."""
    return [BOS, *(_TOKEN.get(letter, UNK) for letter in sequence.upper()), EOS]


def detokenize(tokens: list[int]) -> str:
    """The sequence of token ids, as `decode` gives it: special tokens dropped, mask as `_`."""
    return "".join(_LETTER.get(int(t), "") for t in tokens if int(t) not in (BOS, PAD, EOS))


def check_residues(sequence: str) -> tuple[str, str]:
    """(cleaned sequence, "") or ("", why it is refused).

    Cleaning: white space (also `\\r`) is removed, lower case is upper-cased, and one trailing `*` (a stop
    mark) is dropped; any other character outside `RESIDUES` refuses the record."""
    cleaned = "".join(sequence.split()).upper()
    if cleaned.endswith("*"):
        cleaned = cleaned[:-1]  # a stop codon mark
    if not cleaned:
        return "", "empty sequence"
    bad = sorted({c for c in cleaned if c not in RESIDUES})
    if bad:
        return "", f"not amino-acid letters: {''.join(bad)!r}"
    if len(cleaned) > LENGTH_LIMIT:
        return "", f"{len(cleaned)} residues, more than the limit of {LENGTH_LIMIT}"
    return cleaned, ""
