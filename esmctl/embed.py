"""`esmctl embed`: embeddings for every valid record of a FASTA file, resumable.

The job, in order:
1. read the records (FASTA, or one sequence per line) and check each: letters, empty, length.
   Bad records go to `OUT.rejected.tsv` with their line and reason; the run goes on.
2. deduplicate by sequence (one call per distinct sequence; later ids of the same sequence are
   listed in `OUT.duplicates.tsv`), and send the longest first so that the last calls are short.
3. one `logits` request per protein (tokenized locally; the tokenizer is checked once per run
   against the endpoint's own `encode`), as many in flight as the endpoint takes (`client.Aimd`).
4. every answer is appended at once to `OUT.journal` (framed, checksummed records); a killed or
   interrupted run resumes from it with `--resume` and calls the endpoint for none of them again.
5. at the end, OUT is written in input order (atomically) and the journal removed.

Output: `.npz` with `ids` and `embeddings` ([n, d] means; with per-residue rows `embeddings` is
[total residues, d] and `offsets` [n + 1] slices record i as offsets[i]:offsets[i+1]); written
with fixed zip timestamps, so the same input gives the same bytes. `.parquet` (the `esmctl[parquet]`
extra): columns `id`, `sequence`, `embedding` (a list of floats, or of rows with --per-residue).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from esmctl import vocab
from esmctl.errors import EsmctlError, Interrupted
from esmctl.vocab import LENGTH_LIMIT  # noqa: F401  (this module's names too)

if TYPE_CHECKING:
    from esmctl.client import Client

PROBE = "".join(sorted(vocab.RESIDUES))  # every letter once: the tokenizer check
JOURNAL_MAGIC = b"ESMJ"
_FRAME = struct.Struct("<4sI20sII")  # magic, payload bytes, sequence key, rows, width; then payload, crc32


@dataclass(frozen=True)
class Record:
    id: str
    sequence: str
    line: int


@dataclass(frozen=True)
class Rejected:
    id: str
    line: int
    reason: str


@dataclass
class Prepared:
    """What the input file holds, checked: the distinct valid sequences in input order."""

    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (id, id of the record kept)
    total: int = 0


def key_of(sequence: str) -> bytes:
    return hashlib.sha1(sequence.encode()).digest()


# -- reading and checking ------------------------------------------------------------------------------

def read_records(path: Path) -> Iterator[tuple[str, str, int]]:
    """(id, raw sequence, line) of each record of the input file, in file order; `check` cleans them.

    The file: UTF-8 text (a byte-order mark is dropped; `\\n` or `\\r\\n` line ends), or that text
    gzip-compressed (a `.gz` name or the gzip magic bytes 1f 8b), read transparently. Any other binary
    file (a NUL byte in its first 8 KiB) is refused with an EsmctlError naming it.

    FASTA if the first non-blank line starts with `>`: the id is the first word of the header line
    (`record@lineN` when it is empty), the sequence every following line up to the next `>`; `;` lines
    are comments. `line` is the header's line.

    Otherwise one record per non-blank line, read by these rules in order:
    - `id<TAB>sequence` (text, a tab, the sequence) is always an id and a sequence; the id is all the
      text before the first tab.
    - two or more whitespace-separated fields whose first is NOT made only of amino-acid letters
      (`vocab.RESIDUES`, either case; e.g. it holds a digit, `_`, `|` or `.`): the first field is the id,
      the others, joined, the sequence (`sp|P1|A MKT AYIAK` -> `sp|P1|A`, `MKTAYIAK`).
    - anything else: the whole line, its fields joined, is the sequence and its id is `line<N>`
      (`MKT AYIAK` -> `line1`, `MKTAYIAK`; `abc MKT` too, as `abc` is all letters: write `abc<TAB>MKT`).

    Sequences are yielded as written; `check` then upper-cases them (lower case is accepted), drops
    white space and one trailing `*` (a stop mark), and refuses any other character.
    """
    with _open_text(path) as handle:
        try:
            yield from _records_in(handle)
        except (OSError, EOFError, zlib.error) as e:  # e.g. a gzip stream cut short
            raise _unreadable(path, e) from None


_SNIFF_BYTES = 8192  # how much of an input is looked at to tell text from binary


def _open_text(path: Path) -> io.TextIOWrapper:
    """`path` opened as UTF-8 text (a byte-order mark dropped), gunzipped on the fly if it is gzip; an
    EsmctlError if it cannot be read or is binary."""
    import gzip

    try:
        with path.open("rb") as f:
            zipped = f.read(2) == b"\x1f\x8b" or path.suffix.lower() == ".gz"
        raw = gzip.open(path, "rb") if zipped else path.open("rb")
    except OSError as e:
        raise EsmctlError(f"Cannot read {path}: {e.strerror or e}.", hint="Pass a FASTA file.") from None
    try:
        head = raw.read(_SNIFF_BYTES)
        raw.seek(0)
    except (OSError, EOFError, zlib.error) as e:
        raw.close()
        raise _unreadable(path, e) from None
    if b"\x00" in head:
        raw.close()
        raise EsmctlError(f"{path} is not a FASTA or text file: it holds binary data.",
                          hint="Pass a FASTA file or one sequence per line, as UTF-8 text (gzip-compressed or not).")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace")


def _unreadable(path: Path, e: BaseException) -> EsmctlError:
    """The error for a failure while reading `path` (a gzip stream that is broken or cut short, an I/O error)."""
    import gzip

    if isinstance(e, EOFError | zlib.error | gzip.BadGzipFile):
        return EsmctlError(f"Cannot read {path}: not a valid gzip file ({e}).",
                           hint="Check it with `gzip -t`, or pass the uncompressed FASTA.")
    return EsmctlError(f"Cannot read {path}: {getattr(e, 'strerror', None) or e}.", hint="Pass a FASTA file.")


def _records_in(handle: io.TextIOWrapper) -> Iterator[tuple[str, str, int]]:
    lines = enumerate(handle, 1)
    found = next(((n, text) for n, text in lines if text.strip()), None)
    if found is None:
        return
    first_line, first = found
    if first.startswith(">"):
        head, start = first[1:].strip(), first_line
        parts: list[str] = []
        for number, text in lines:
            if text.startswith(">"):
                yield _fasta_id(head, start), "".join(parts), start
                head, start, parts = text[1:].strip(), number, []
            elif not text.startswith(";"):
                parts.append(text.strip())
        yield _fasta_id(head, start), "".join(parts), start
        return
    yield _plain_record(first, first_line)
    for number, text in lines:
        if text.strip():
            yield _plain_record(text, number)


def _plain_record(text: str, number: int) -> tuple[str, str, int]:
    """One non-blank line of a file of one sequence per line (the rules are in `read_records`)."""
    line = text.strip()
    rid, tab, rest = line.partition("\t")
    if tab and rid.strip():
        return rid.strip(), rest, number
    fields = line.split()
    if len(fields) >= 2 and not _only_residues(fields[0]):
        return fields[0], "".join(fields[1:]), number
    return f"line{number}", "".join(fields), number


def _only_residues(word: str) -> bool:
    return all(c in vocab.RESIDUES for c in word.upper())


def _fasta_id(header: str, line: int) -> str:
    words = header.split()
    return words[0] if words else f"record@line{line}"


def prepare(path: Path) -> Prepared:
    """The records of `path`, checked and deduplicated. An id names one sequence: every id seen on a valid
    record (kept or listed as a duplicate) is remembered, and a later record giving it another sequence
    is rejected; the same id with the same sequence again is dropped silently."""
    out = Prepared()
    by_sequence: dict[str, str] = {}  # sequence -> id of the record kept
    by_id: dict[str, tuple[str, int]] = {}  # id -> (sequence, line) where it was first seen
    for rid, raw, line in read_records(path):
        out.total += 1
        sequence, why = vocab.check_residues(raw)
        if why:
            out.rejected.append(Rejected(rid, line, why))
            continue
        if rid in by_id:
            first_sequence, first_line = by_id[rid]
            if first_sequence != sequence:
                out.rejected.append(Rejected(rid, line, f"id already used on line {first_line} for another sequence"))
            continue  # else: already kept or listed as a duplicate
        by_id[rid] = (sequence, line)
        if sequence in by_sequence:
            out.duplicates.append((rid, by_sequence[sequence]))
            continue
        by_sequence[sequence] = rid
        out.records.append(Record(rid, sequence, line))
    return out


# -- the journal ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """Where one answer sits in the journal."""

    offset: int  # of its payload
    rows: int  # 0: one vector of `width`; else rows × width
    width: int

    @property
    def nbytes(self) -> int:
        return max(self.rows, 1) * self.width * 4


class Journal:
    """Append-only record of finished answers: a header frame (the job's parameters as JSON), then
    one frame per sequence. A frame cut short by a kill is dropped on reading. Only the index of
    what it holds is kept in memory; vectors are read back when the output is written."""

    def __init__(self, path: Path, params: dict[str, Any] | None) -> None:
        """`params`: the job's parameters (None: read whatever job it is, and only read)."""
        self.path = path
        self.params = params
        self._handle: Any = None
        self._size = 0
        self._lock = threading.Lock()

    def read(self) -> dict[bytes, Entry]:
        """What is recorded; EsmctlError when the journal is of another job."""
        done: dict[bytes, Entry] = {}
        if not self.path.exists():
            return done
        good, header = 0, None
        with self.path.open("rb") as f:
            while True:
                head = f.read(_FRAME.size)
                if len(head) < _FRAME.size:
                    break
                magic, size, key, rows, width = _FRAME.unpack(head)
                payload = f.read(size)
                crc = f.read(4)
                if magic != JOURNAL_MAGIC or len(payload) < size or len(crc) < 4 or \
                        zlib.crc32(payload) != struct.unpack("<I", crc)[0]:
                    break
                if header is None:
                    header = json.loads(payload)
                else:
                    done[key] = Entry(good + _FRAME.size, rows, width)
                good += _FRAME.size + size + 4
        if header is not None and self.params is not None and header != self.params:
            raise EsmctlError(f"{self.path} holds embeddings of another job ({_differs(header, self.params)}).",
                              hint="Use the options of that run with --resume, or delete the journal to start over.")
        if good < self.path.stat().st_size:  # a frame cut short by a kill: appends follow the good frames
            with self.path.open("r+b") as f:
                f.truncate(good)
        return done

    def vectors(self, entries: Iterable[Entry]) -> Iterator[np.ndarray]:
        """The vectors of `entries`, read back one by one."""
        with self.path.open("rb") as f:
            for e in entries:
                f.seek(e.offset)
                a = np.frombuffer(f.read(e.nbytes), dtype="<f4")
                yield a.reshape(e.rows, e.width) if e.rows else a

    def _frame(self, key: bytes, payload: bytes, rows: int, width: int) -> bytes:
        return _FRAME.pack(JOURNAL_MAGIC, len(payload), key, rows, width) + payload + \
            struct.pack("<I", zlib.crc32(payload))

    def open(self) -> None:
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("ab")
        self._size = self.path.stat().st_size
        if fresh:
            self._write(self._frame(b"\0" * 20, json.dumps(self.params, sort_keys=True).encode(), 0, 0))

    def append(self, key: bytes, vector: np.ndarray) -> Entry:
        a = np.ascontiguousarray(vector, dtype="<f4")
        rows, width = (a.shape[0], a.shape[1]) if a.ndim == 2 else (0, a.shape[0])
        return Entry(self._write(self._frame(key, a.tobytes(), rows, width)) + _FRAME.size, rows, width)

    def _write(self, frame: bytes) -> int:
        """Append `frame`; where it starts."""
        with self._lock:
            at = self._size
            self._handle.write(frame)
            self._handle.flush()  # in the kernel now: a SIGKILL no longer loses it
            self._size += len(frame)
            return at

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _differs(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return "; ".join(f"{k}: {old.get(k)!r} then, {new.get(k)!r} now" for k in keys)


# -- writing the output ----------------------------------------------------------------------------------

def output_format(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix == ".npz":
        return "npz"
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise EsmctlError("Parquet output needs pyarrow.",
                              hint="pip install 'esmctl[parquet]', or write .npz (-o OUT.npz).") from None
        return "parquet"
    raise EsmctlError(f"Unknown output format {out.suffix or '(none)'!r} of {out}.",
                      hint="Use -o OUT.npz (numpy) or -o OUT.parquet.")


def journal_path(out: Path) -> Path:
    return out.with_name(out.name + ".journal")


def precheck(out: Path, *, resume: bool, layer: int | None, shape: vocab.ModelShape, forge_model: str) -> None:
    """What can be refused before anything is started or sent: the output's format and folder, an
    earlier run's files without --resume, a layer the model does not have."""
    output_format(out)
    if out.is_dir():
        raise EsmctlError(f"{out} is a folder.", hint="Pass a file name: -o FOLDER/embeddings.npz.")
    if not out.parent.is_dir():
        raise EsmctlError(f"The folder of {out} does not exist.", hint=f"Create it first (mkdir -p {out.parent}).")
    if out.exists() and not resume:
        raise EsmctlError(f"{out} exists.", hint="Pass --resume to keep it (and embed only what is missing), or "
                          "remove it, or write to another file.")
    if journal_path(out).exists() and not resume:
        raise EsmctlError(f"{journal_path(out)} holds the answers of an unfinished run.",
                          hint="Pass --resume to continue it (nothing finished is sent again), or delete it.")
    if layer is not None and not shape.has_layer(layer):
        raise EsmctlError(f"--layer {layer} does not exist in {forge_model}.", hint=shape.layers_hint)


def usable(prepared: Prepared, source: Path, out: Path) -> Prepared:
    """`prepared`, or EsmctlError when the input holds nothing to embed (the reasons go to the rejected file)."""
    if prepared.total == 0:
        raise EsmctlError(f"{source} holds no records.", hint="Pass a FASTA file (>id lines, then the sequence) "
                          "or one sequence per line.")
    if not prepared.records:
        write_side_files(out, prepared)
        raise EsmctlError(f"None of the {prepared.total} records of {source} can be embedded.",
                          hint=f"The reasons are in {out.name}.rejected.tsv.")
    return prepared


ROW_GROUP = 1024  # Parquet rows written at a time


def write_output(out: Path, records: list[Record], vectors: Iterable[np.ndarray], *, per_residue: bool,
                 params: dict[str, Any], width: int, rows: list[int] | None = None) -> None:
    """OUT in input order, streamed from `vectors` (one per record) to a temporary file that is then
    renamed (a kill leaves no half file). `rows`: residues of each record, with `per_residue`. The
    output carries the job's parameters and each record's sequence key, so that --resume can trust it."""
    tmp = out.with_name(out.name + ".tmp")
    meta = json.dumps(params, sort_keys=True)
    try:
        if output_format(out) == "npz":
            _write_npz(tmp, records, vectors, per_residue=per_residue, meta=meta, width=width, rows=rows or [])
        else:
            _write_parquet(tmp, records, vectors, per_residue=per_residue, meta=meta, width=width)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half file left behind; the journal still holds everything
        raise


def _write_npz(path: Path, records: list[Record], vectors: Iterable[np.ndarray], *, per_residue: bool, meta: str,
               width: int, rows: list[int]) -> None:
    """np.savez's format (a zip of .npy files), `embeddings` streamed, fixed timestamps: same input, same bytes."""
    def entry(name: str) -> zipfile.ZipInfo:
        return zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))

    def small(z: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, array, allow_pickle=False)
        z.writestr(entry(name), buf.getvalue())

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        small(z, "ids", np.array([r.id for r in records], dtype=str))
        # hex: numpy's bytes dtype would drop a digest's trailing zero bytes
        small(z, "keys", np.array([key_of(r.sequence).hex() for r in records], dtype=str))
        small(z, "params", np.array(meta))
        shape = (sum(rows), width) if per_residue else (len(records), width)
        if per_residue:
            small(z, "offsets", np.cumsum([0, *rows], dtype=np.int64))
        with z.open(entry("embeddings"), "w", force_zip64=True) as f:
            np.lib.format.write_array_header_2_0(f, {"descr": "<f4", "fortran_order": False, "shape": shape})
            for v in vectors:
                f.write(np.ascontiguousarray(v, dtype="<f4").tobytes())


def _write_parquet(path: Path, records: list[Record], vectors: Iterable[np.ndarray], *, per_residue: bool,
                   meta: str, width: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    row_type = pa.list_(pa.float32(), width)
    kind = pa.list_(row_type) if per_residue else row_type
    schema = pa.schema([("id", pa.string()), ("sequence", pa.string()), ("embedding", kind)],
                       metadata={"esmctl": meta})
    it = iter(vectors)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(records), ROW_GROUP):
            group = records[start:start + ROW_GROUP]
            chunk = [next(it) for _ in group]
            flat = pa.array(np.concatenate([c.reshape(-1) for c in chunk]) if chunk else np.zeros(0, np.float32),
                            type=pa.float32())
            column: Any = pa.FixedSizeListArray.from_arrays(flat, width)
            if per_residue:
                offsets = pa.array(np.cumsum([0, *(len(c) for c in chunk)], dtype=np.int32))
                column = pa.ListArray.from_arrays(offsets, column)
            writer.write_table(pa.table({"id": [r.id for r in group], "sequence": [r.sequence for r in group],
                                         "embedding": column}, schema=schema))


def read_output(out: Path) -> tuple[dict[str, Any] | None, list[str], list[bytes], Iterator[np.ndarray]]:
    """An earlier OUT: (its parameters, None if it has none; its ids; its records' sequence keys; their
    vectors). EsmctlError when it cannot be read as an output of esmctl."""
    try:
        return _read_output(out)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise EsmctlError(f"{out} cannot be read as an output of esmctl embed ({type(e).__name__}: {e}).",
                          hint="Write to another file, or remove it.") from None
    except Exception as e:  # pyarrow's errors (ArrowInvalid …) without importing pyarrow here
        if type(e).__module__.startswith("pyarrow"):
            raise EsmctlError(f"{out} cannot be read as an output of esmctl embed ({e}).",
                              hint="Write to another file, or remove it.") from None
        raise


def _read_output(out: Path) -> tuple[dict[str, Any] | None, list[str], list[bytes], Iterator[np.ndarray]]:
    if output_format(out) == "npz":
        with np.load(out) as z:
            if "params" not in z.files or "keys" not in z.files:
                return None, [], [], iter(())
            params = json.loads(str(z["params"]))
            ids = [str(i) for i in z["ids"]]
            keys = [bytes.fromhex(str(k)) for k in z["keys"]]
            emb = z["embeddings"]
            offsets = z["offsets"] if "offsets" in z.files else None
        if offsets is None:
            return params, ids, keys, iter(emb)
        return params, ids, keys, (emb[offsets[i]:offsets[i + 1]] for i in range(len(keys)))
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    meta = (table.schema.metadata or {}).get(b"esmctl")
    if meta is None:
        return None, [], [], iter(())
    cols = table.to_pydict()
    return (json.loads(meta), [str(i) for i in cols["id"]], [key_of(s) for s in cols["sequence"]],
            (np.asarray(e, dtype=np.float32) for e in cols["embedding"]))


def write_side_files(out: Path, prepared: Prepared) -> tuple[Path, Path | None]:
    rejected = out.with_name(out.name + ".rejected.tsv")
    lines = ["id\tline\treason", *(f"{r.id}\t{r.line}\t{r.reason}" for r in prepared.rejected)]
    rejected.write_text("\n".join(lines) + "\n", encoding="utf-8")
    duplicates = None
    if prepared.duplicates:
        duplicates = out.with_name(out.name + ".duplicates.tsv")
        rows = ["id\tsame_sequence_as", *(f"{a}\t{b}" for a, b in prepared.duplicates)]
        duplicates.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return rejected, duplicates


# -- the run ------------------------------------------------------------------------------------------------

@dataclass
class Summary:
    output: str
    records: int = 0  # records in the input
    unique: int = 0  # distinct valid sequences
    done: int = 0  # embedded by this run
    skipped: int = 0  # already in the journal or output (resumed)
    rejected: int = 0
    duplicates: int = 0
    failed: int = 0
    seconds: float = 0.0
    sequences_per_second: float = 0.0
    calls: int = 0
    throttled: int = 0
    concurrency: int = 0  # the highest concurrency limit the run reached (requests allowed in flight)
    windowed: int = 0  # sequences sent in more than one window (longer than one request carries)
    cost_usd: float | None = None  # estimated: the endpoint's hourly price × this run's time
    rejected_file: str = ""
    duplicates_file: str | None = None
    failures: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Progress:
    """What the progress display is told as the run goes."""

    total: int
    done: int = 0


class Job:
    """One `esmctl embed` run against one client."""

    def __init__(self, client: Client, source: Path, out: Path, *, per_residue: bool = False, layer: int | None = None,
                 concurrency: int | None = None, resume: bool = False, hourly_usd: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.source, self.out = client, source, out
        self.per_residue, self.layer, self.concurrency, self.resume = per_residue, layer, concurrency, resume
        self.hourly_usd = hourly_usd
        self.clock = clock
        self.stop = threading.Event()
        precheck(out, resume=resume, layer=layer, shape=client.shape, forge_model=client.forge_model)
        self.journal = Journal(journal_path(out), self.params())

    def params(self) -> dict[str, Any]:
        return {"forge_model": self.client.forge_model, "per_residue": self.per_residue, "layer": self.layer,
                "width": self.client.shape.width, "format": 1}

    def prepare(self) -> tuple[Prepared, dict[bytes, Entry], bool]:
        """Read and check the input; what earlier runs recorded (an earlier OUT is taken into the
        journal when its parameters match); True when OUT already holds exactly this input."""
        prepared = usable(prepare(self.source), self.source, self.out)
        done = self.journal.read()
        if self.resume and self.out.exists():
            params, ids, keys, vectors = read_output(self.out)
            if params != self.params():
                how = f"with other options ({_differs(params, self.params())})" if params else \
                    "by another program or version"
                raise EsmctlError(f"{self.out} was written {how}.",
                                  hint="Use the options of that run, or write to another file.")
            wanted = [key_of(r.sequence) for r in prepared.records]
            if keys == wanted and ids == [r.id for r in prepared.records] and not done:
                return prepared, done, True
            needed = set(wanted) - set(done)
            self.journal.open()
            try:
                for key, vector in zip(keys, vectors, strict=False):
                    if key in needed:
                        done[key] = self.journal.append(key, vector)
            finally:
                self.journal.close()
        return prepared, done, False

    def run(self, on_progress: Callable[[Progress, Summary], None] = lambda p, s: None) -> Summary:
        from esmctl.client import stops_all

        prepared, done, complete = self.prepare()
        rejected_file, duplicates_file = write_side_files(self.out, prepared)
        summary = Summary(output=str(self.out), records=prepared.total, unique=len(prepared.records),
                          rejected=len(prepared.rejected), duplicates=len(prepared.duplicates),
                          rejected_file=str(rejected_file),
                          duplicates_file=str(duplicates_file) if duplicates_file else None)
        todo = [] if complete else [r for r in prepared.records if key_of(r.sequence) not in done]
        summary.skipped = len(prepared.records) - len(todo)
        todo.sort(key=lambda r: -len(r.sequence))  # longest first: the tail of the run is short calls
        started = self.clock()
        progress = Progress(total=len(prepared.records), done=summary.skipped)
        limiter = self.client.limiter(self.concurrency)
        calls_before = self.client.calls
        if todo:
            self.client.check_tokenizer(PROBE)
            self.journal.open()
            ids = {key_of(r.sequence): r.id for r in todo}
            stream = self.client.embed_iter(((key_of(r.sequence), r.sequence) for r in todo),
                                            per_residue=self.per_residue, layer=self.layer, limiter=limiter,
                                            stop=self.stop)
            try:
                for key, result in stream:
                    if isinstance(result, EsmctlError):
                        if stops_all(result):
                            raise result  # nothing else could pass; embed_iter starts no more
                        summary.failed += 1
                        summary.failures.append({"id": ids[key], "error": result.message})
                        continue
                    done[key] = self.journal.append(key, result.vector)
                    summary.done += 1
                    summary.windowed += result.windows > 1
                    progress.done += 1
                    self._account(summary, limiter, started, calls_before)
                    on_progress(progress, summary)
            except KeyboardInterrupt:
                self._account(summary, limiter, started, calls_before)
                raise Interrupted(f"Interrupted: {summary.done + summary.skipped} of {len(prepared.records)} "
                                  f"sequences are kept in {self.journal.path}.",
                                  hint="Run the same command with --resume: it sends none of them again.") from None
            finally:
                stream.close()  # no new calls once this loop is left, however it is left
                self.journal.close()
        self._account(summary, limiter, started, calls_before)
        missing = [r.id for r in prepared.records if key_of(r.sequence) not in done]
        if missing and summary.failed == 0 and not complete:  # stopped before every sequence was sent
            raise Interrupted(f"Stopped: {len(missing)} of {len(prepared.records)} sequences are not embedded yet "
                              f"(the others are kept in {self.journal.path}).",
                              hint="Run the same command with --resume: it sends only what is missing.")
        if summary.failed == 0 and not complete:
            entries = [done[key_of(r.sequence)] for r in prepared.records]
            write_output(self.out, prepared.records, self.journal.vectors(entries), per_residue=self.per_residue,
                         params=self.params(), width=self.client.shape.width, rows=[e.rows for e in entries])
            self.journal.path.unlink(missing_ok=True)
        return summary

    def _account(self, summary: Summary, limiter: Any, started: float, calls_before: int) -> None:
        summary.seconds = round(self.clock() - started, 3)
        summary.sequences_per_second = round(summary.done / summary.seconds, 2) if summary.seconds > 0 else 0.0
        summary.calls = self.client.calls - calls_before
        summary.throttled = limiter.throttled
        summary.concurrency = limiter.peak
        if self.hourly_usd is not None:
            summary.cost_usd = round(self.hourly_usd * summary.seconds / 3600, 4)
