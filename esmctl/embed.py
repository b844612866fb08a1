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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from esmctl import vocab
from esmctl.errors import EsmctlError, Interrupted

if TYPE_CHECKING:
    from esmctl.client import Client

LENGTH_LIMIT = 50_000  # residues; longer records are refused (titin, the longest known protein, has ~35,000)
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
    """(id, raw sequence, line) of each record of a FASTA file, or of a file of one sequence per line
    (optionally `id<whitespace>sequence`)."""
    try:
        handle = path.open(encoding="utf-8", errors="replace")
    except OSError as e:
        raise EsmctlError(f"Cannot read {path}: {e.strerror or e}.", hint="Pass a FASTA file.") from None
    with handle:
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
        for number, text in [(first_line, first), *lines]:
            fields = text.split()
            if not fields:
                continue
            if len(fields) == 2:
                yield fields[0], fields[1], number
            else:
                yield f"line{number}", "".join(fields), number


def _fasta_id(header: str, line: int) -> str:
    return header.split()[0] if header.split() else f"record@line{line}"


def check(sequence: str) -> tuple[str, str]:
    """(cleaned sequence, "") or ("", why it is refused)."""
    cleaned = "".join(sequence.split()).upper()
    if cleaned.endswith("*"):
        cleaned = cleaned[:-1]  # a stop codon mark
    if not cleaned:
        return "", "empty sequence"
    bad = sorted({c for c in cleaned if c not in vocab.RESIDUES})
    if bad:
        return "", f"not amino-acid letters: {''.join(bad)!r}"
    if len(cleaned) > LENGTH_LIMIT:
        return "", f"{len(cleaned)} residues, more than the limit of {LENGTH_LIMIT}"
    return cleaned, ""


def prepare(path: Path) -> Prepared:
    out = Prepared()
    by_sequence: dict[str, str] = {}
    by_id: dict[str, tuple[str, int]] = {}
    for rid, raw, line in read_records(path):
        out.total += 1
        sequence, why = check(raw)
        if why:
            out.rejected.append(Rejected(rid, line, why))
            continue
        if rid in by_id and by_id[rid][0] != sequence:
            out.rejected.append(Rejected(rid, line, f"id already used on line {by_id[rid][1]} for another sequence"))
            continue
        if sequence in by_sequence:
            if by_sequence[sequence] != rid:
                out.duplicates.append((rid, by_sequence[sequence]))
            continue
        by_sequence[sequence] = rid
        by_id[rid] = (sequence, line)
        out.records.append(Record(rid, sequence, line))
    return out


# -- the journal ----------------------------------------------------------------------------------------

class Journal:
    """Append-only record of finished answers: a header frame (the job's parameters as JSON), then
    one frame per sequence. A frame cut short by a kill is dropped on reading."""

    def __init__(self, path: Path, params: dict[str, Any] | None) -> None:
        """`params`: the job's parameters (None: read whatever job it is, and only read)."""
        self.path = path
        self.params = params
        self._handle: Any = None
        self._lock = threading.Lock()

    def read(self) -> dict[bytes, np.ndarray]:
        """The answers already recorded; EsmctlError when the journal is of another job."""
        done: dict[bytes, np.ndarray] = {}
        if not self.path.exists():
            return done
        data = self.path.read_bytes()
        offset, good, header = 0, 0, None
        while offset + _FRAME.size <= len(data):
            magic, size, key, rows, width = _FRAME.unpack_from(data, offset)
            end = offset + _FRAME.size + size + 4
            if magic != JOURNAL_MAGIC or end > len(data):
                break
            payload = data[offset + _FRAME.size:end - 4]
            if zlib.crc32(payload) != struct.unpack_from("<I", data, end - 4)[0]:
                break
            if header is None:
                header = json.loads(payload)
            else:
                done[key] = np.frombuffer(payload, dtype="<f4").reshape(rows, width) if rows else \
                    np.frombuffer(payload, dtype="<f4")
            offset = good = end
        if header is not None and self.params is not None and header != self.params:
            raise EsmctlError(f"{self.path} holds embeddings of another job ({_differs(header, self.params)}).",
                              hint="Use the options of that run with --resume, or delete the journal to start over.")
        if good < len(data):  # a frame cut short by a kill: drop it so that appends follow good frames
            with self.path.open("r+b") as f:
                f.truncate(good)
        return done

    def _frame(self, key: bytes, payload: bytes, rows: int, width: int) -> bytes:
        return _FRAME.pack(JOURNAL_MAGIC, len(payload), key, rows, width) + payload + \
            struct.pack("<I", zlib.crc32(payload))

    def open(self) -> None:
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._handle = self.path.open("ab")
        if fresh:
            self._write(self._frame(b"\0" * 20, json.dumps(self.params, sort_keys=True).encode(), 0, 0))

    def append(self, key: bytes, vector: np.ndarray) -> None:
        a = np.ascontiguousarray(vector, dtype="<f4")
        rows, width = (a.shape[0], a.shape[1]) if a.ndim == 2 else (0, a.shape[0])
        self._write(self._frame(key, a.tobytes(), rows, width))

    def _write(self, frame: bytes) -> None:
        with self._lock:
            self._handle.write(frame)
            self._handle.flush()  # in the kernel now: a SIGKILL no longer loses it

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


def write_output(out: Path, records: list[Record], vectors: list[np.ndarray], *, per_residue: bool) -> None:
    """OUT in input order, written to a temporary file and renamed (a kill leaves no half file)."""
    tmp = out.with_name(out.name + ".tmp")
    if output_format(out) == "npz":
        arrays: dict[str, np.ndarray] = {"ids": np.array([r.id for r in records], dtype=str)}
        if per_residue:
            arrays["offsets"] = np.cumsum([0, *(len(v) for v in vectors)], dtype=np.int64)
            arrays["embeddings"] = (np.concatenate(vectors).astype(np.float32) if vectors
                                    else np.zeros((0, 0), dtype=np.float32))
        else:
            arrays["embeddings"] = (np.stack(vectors).astype(np.float32) if vectors
                                    else np.zeros((0, 0), dtype=np.float32))
        _write_npz(tmp, arrays)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        column = [v.tolist() for v in vectors]
        table = pa.table({"id": [r.id for r in records], "sequence": [r.sequence for r in records],
                          "embedding": pa.array(column, type=pa.list_(pa.list_(pa.float32())) if per_residue
                                                else pa.list_(pa.float32()))})
        pq.write_table(table, tmp)
    os.replace(tmp, out)


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez's format (a zip of .npy files) with fixed timestamps: same arrays, same bytes."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(array), allow_pickle=False)
            z.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buf.getvalue())


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
    concurrency: int = 0  # the highest number of requests in flight the run reached
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
    started: float = 0.0


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
        if layer is not None and not 0 <= layer <= client.shape.layers:
            raise EsmctlError(f"--layer {layer} does not exist in {client.forge_model}.",
                              hint=f"Pick 0 … {client.shape.layers} (0 is the embedding layer, "
                              f"{client.shape.layers} the last block).")
        output_format(out)
        self.journal = Journal(out.with_name(out.name + ".journal"), self.params())

    def params(self) -> dict[str, Any]:
        return {"forge_model": self.client.forge_model, "per_residue": self.per_residue, "layer": self.layer,
                "width": self.client.shape.width, "format": 1}

    def prepare(self) -> tuple[Prepared, dict[bytes, np.ndarray]]:
        """Read and check the input; the answers a previous run recorded. Nothing is sent yet."""
        if self.out.exists() and not self.resume:
            raise EsmctlError(f"{self.out} exists.", hint="Pass --resume to keep it (and embed only what is "
                              "missing), or remove it, or write to another file.")
        if self.journal.path.exists() and not self.resume:
            raise EsmctlError(f"{self.journal.path} holds the answers of an unfinished run.",
                              hint="Pass --resume to continue it (nothing finished is sent again), or delete it.")
        prepared = prepare(self.source)
        if prepared.total == 0:
            raise EsmctlError(f"{self.source} holds no records.", hint="Pass a FASTA file (>id lines, then "
                              "the sequence) or one sequence per line.")
        done = self.journal.read()
        if self.resume and self.out.exists():
            done.update(self._read_output())
        return prepared, done

    def _read_output(self) -> dict[bytes, np.ndarray]:
        """The vectors of a finished OUT (so that --resume after a finished run sends nothing)."""
        if output_format(self.out) != "npz":
            import pyarrow.parquet as pq
            table = pq.read_table(self.out).to_pydict()
            return {key_of(s): np.asarray(e, dtype=np.float32) for s, e in zip(table["sequence"], table["embedding"],
                                                                                 strict=True)}
        # .npz does not keep the sequences: match by id against the input.
        with np.load(self.out) as z:
            ids = [str(i) for i in z["ids"]]
            emb = z["embeddings"]
            offsets = z["offsets"] if "offsets" in z.files else None
        by_id = {r.id: r.sequence for r in prepare(self.source).records}
        found = {}
        for i, rid in enumerate(ids):
            if rid in by_id:
                found[key_of(by_id[rid])] = emb[offsets[i]:offsets[i + 1]] if offsets is not None else emb[i]
        return found

    def run(self, on_progress: Callable[[Progress, Summary], None] = lambda p, s: None) -> Summary:
        prepared, done = self.prepare()
        rejected_file, duplicates_file = write_side_files(self.out, prepared)
        summary = Summary(output=str(self.out), records=prepared.total, unique=len(prepared.records),
                          rejected=len(prepared.rejected), duplicates=len(prepared.duplicates),
                          rejected_file=str(rejected_file),
                          duplicates_file=str(duplicates_file) if duplicates_file else None)
        todo = [r for r in prepared.records if key_of(r.sequence) not in done]
        summary.skipped = len(prepared.records) - len(todo)
        todo.sort(key=lambda r: -len(r.sequence))  # longest first: the tail of the run is short calls
        started = self.clock()
        progress = Progress(total=len(prepared.records), done=summary.skipped, started=started)
        results: dict[bytes, np.ndarray] = dict(done)
        limiter = self.client.limiter(self.concurrency)
        calls_before = self.client.calls
        if todo:
            from esmctl.client import stops_all

            self.client.check_tokenizer(PROBE)
            self.journal.open()
            try:
                items = ((key_of(r.sequence), r) for r in todo)
                stream = self.client.embed_iter(((k, r.sequence) for k, r in items), per_residue=self.per_residue,
                                                layer=self.layer, limiter=limiter, stop=self.stop)
                ids = {key_of(r.sequence): r.id for r in todo}
                for key, result in stream:
                    if isinstance(result, EsmctlError) and stops_all(result):
                        raise result  # embed_iter starts no more; nothing else could pass
                    if isinstance(result, EsmctlError):
                        summary.failed += 1
                        summary.failures.append({"id": ids[key], "error": result.message})
                        continue
                    self.journal.append(key, result.vector)
                    results[key] = result.vector
                    summary.done += 1
                    summary.windowed += result.windows > 1
                    progress.done += 1
                    self._account(summary, limiter, started, calls_before)
                    on_progress(progress, summary)
            except KeyboardInterrupt:
                self.stop.set()
                self._account(summary, limiter, started, calls_before)
                raise Interrupted(f"Interrupted: {summary.done + summary.skipped} of {len(prepared.records)} "
                                  f"sequences are kept in {self.journal.path}.",
                                  hint="Run the same command with --resume: it sends none of them again.") from None
            finally:
                self.journal.close()
        self._account(summary, limiter, started, calls_before)
        if summary.failed == 0:
            vectors = [results[key_of(r.sequence)] for r in prepared.records]
            write_output(self.out, prepared.records, vectors, per_residue=self.per_residue)
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
