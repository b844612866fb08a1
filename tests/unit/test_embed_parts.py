"""The pieces of `esmctl embed` a user notices, without an endpoint: reading and checking records,
the journal a killed run resumes from, the output files, windows for long sequences, and the
concurrency gate."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

import numpy as np
import pytest

from esmctl import client as client_mod
from esmctl import embed as embed_mod
from esmctl.errors import EsmctlError


def test_fasta_records_are_checked_and_deduplicated_with_reasons_and_lines(tmp_path: Path) -> None:
    src = tmp_path / "in.fasta"
    src.write_text(">a first\nMKTA\nYIAK\n>b\nmkta yiak\n>c\n\n>d\nMKT1\n>e\nMKTAYIAK*\n>a\nMQQQ\n"
                   ">f\nACDEFGHIKLMNPQRSTVWYXBUZO\n")
    prepared = embed_mod.prepare(src)
    assert prepared.total == 7
    assert [(r.id, r.sequence) for r in prepared.records] == [("a", "MKTAYIAK"), ("f", "ACDEFGHIKLMNPQRSTVWYXBUZO")]
    assert [(r.id, r.line, r.reason.split(":")[0]) for r in prepared.rejected] == [
        ("c", 6, "empty sequence"), ("d", 8, "not amino-acid letters"),
        ("a", 12, "id already used on line 1 for another sequence")]
    # b (lower case, spaces) and e (a stop mark) are the same protein as a: embedded once.
    assert prepared.duplicates == [("b", "a"), ("e", "a")]


def test_plain_lines_are_records_too(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("MKTAYIAK\n\nseq2 MQIFVK\n")
    assert [(r.id, r.sequence, r.line) for r in embed_mod.prepare(src).records] == [
        ("line1", "MKTAYIAK", 1), ("seq2", "MQIFVK", 3)]


def test_a_record_over_the_length_limit_is_rejected(tmp_path: Path) -> None:
    src = tmp_path / "in.fasta"
    src.write_text(f">long\n{'A' * (embed_mod.LENGTH_LIMIT + 1)}\n>ok\nMK\n")
    prepared = embed_mod.prepare(src)
    assert [r.id for r in prepared.records] == ["ok"]
    assert "limit" in prepared.rejected[0].reason


def _read(path: Path) -> list[tuple[str, str, int]]:
    return [(r.id, r.sequence, r.line) for r in embed_mod.prepare(path).records]


def test_a_byte_order_mark_does_not_hide_the_fasta_header(tmp_path: Path) -> None:
    src = tmp_path / "in.fasta"
    src.write_bytes("\ufeff>sp|P1|A desc\nMKTA\n>b\nMQ\n".encode())
    assert _read(src) == [("sp|P1|A", "MKTA", 1), ("b", "MQ", 3)]
    plain = tmp_path / "in.txt"
    plain.write_bytes("\ufeffMKTA\nseq2 MQ\n".encode())
    assert _read(plain) == [("line1", "MKTA", 1), ("seq2", "MQ", 2)]


@pytest.mark.parametrize(("line", "expected"), [
    ("MKT AYIAK", ("line1", "MKTAYIAK")),  # two fields of residue letters: one sequence, not id + sequence
    ("mkt ayi ak", ("line1", "MKTAYIAK")),
    ("MKTAYIAK", ("line1", "MKTAYIAK")),
    ("seq2 MQIFVK", ("seq2", "MQIFVK")),  # a digit: an id
    ("sp|P1|A MKT AYIAK", ("sp|P1|A", "MKTAYIAK")),  # the rest joined
    ("P_1 mktayiak", ("P_1", "MKTAYIAK")),
    ("x.1 MK", ("x.1", "MK")),
    ("abc\tMKTAYIAK", ("abc", "MKTAYIAK")),  # a tab: always id + sequence, even for an all-letter id
    ("MKT\tAYIAK", ("MKT", "AYIAK")),
    ("  MKTAYIAK\t ", ("line1", "MKTAYIAK")),  # a stray tab at the end is white space
])
def test_plain_lines_split_into_id_and_sequence_by_the_documented_rule(
        tmp_path: Path, line: str, expected: tuple[str, str]) -> None:
    src = tmp_path / "in.txt"
    src.write_text(line + "\n")
    assert _read(src) == [(*expected, 1)]


def test_an_id_listed_as_a_duplicate_cannot_name_another_sequence_later(tmp_path: Path) -> None:
    src = tmp_path / "in.fasta"
    src.write_text(">x\nMK\n>y\nMK\n>y\nMQ\n>y\nMK\n>x\nMK\n")
    prepared = embed_mod.prepare(src)
    assert prepared.total == 5
    assert [(r.id, r.sequence) for r in prepared.records] == [("x", "MK")]
    assert prepared.duplicates == [("y", "x")]  # listed once, though y repeats MK on line 7
    assert [(r.id, r.line, r.reason) for r in prepared.rejected] == [
        ("y", 5, "id already used on line 3 for another sequence")]


@pytest.mark.parametrize("name", ["in.fasta.gz", "in.fasta"])  # by name or by the gzip magic bytes
def test_a_gzipped_input_is_read_transparently(tmp_path: Path, name: str) -> None:
    src = tmp_path / name
    src.write_bytes(gzip.compress("\ufeff>a desc\r\nMKTA\r\nyi\r\n>b\nMQ*\n".encode()))
    assert _read(src) == [("a", "MKTAYI", 1), ("b", "MQ", 4)]


def test_a_binary_or_broken_input_is_refused_with_its_name(tmp_path: Path) -> None:
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"\x93NUMPY\x01\x00v\x00" + bytes(100))
    with pytest.raises(EsmctlError, match=r"weights\.bin is not a FASTA or text file"):
        embed_mod.prepare(binary)
    utf16 = tmp_path / "in16.fasta"
    utf16.write_text(">a\nMK\n", encoding="utf-16")
    with pytest.raises(EsmctlError, match="not a FASTA or text file"):
        embed_mod.prepare(utf16)
    cut = tmp_path / "cut.fasta.gz"
    whole = gzip.compress((">a\n" + "MKTAYIAK" * 5000 + "\n").encode())
    cut.write_bytes(whole[: len(whole) // 2])  # a download cut short
    with pytest.raises(EsmctlError, match=r"cut\.fasta\.gz: not a valid gzip file"):
        embed_mod.prepare(cut)
    fake = tmp_path / "plain.fasta.gz"
    fake.write_text(">a\nMK\n")
    with pytest.raises(EsmctlError, match=r"plain\.fasta\.gz: not a valid gzip file"):
        embed_mod.prepare(fake)
    with pytest.raises(EsmctlError, match="Cannot read"):
        embed_mod.prepare(tmp_path / "missing.fasta")


def test_windows_line_endings_are_read_like_unix_ones(tmp_path: Path) -> None:
    fasta = tmp_path / "in.fasta"
    fasta.write_bytes(b">a first\r\nMKTA\r\nYIAK\r\n\r\n>b\r\nMQ*\r\n")
    assert _read(fasta) == [("a", "MKTAYIAK", 1), ("b", "MQ", 5)]
    plain = tmp_path / "in.txt"
    plain.write_bytes(b"MKTA\r\nseq2\tMQ\r\nseq3 MK\r\n")
    assert _read(plain) == [("line1", "MKTA", 1), ("seq2", "MQ", 2), ("seq3", "MK", 3)]


def test_the_journal_keeps_every_whole_frame_and_drops_one_cut_by_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "out.npz.journal"
    params = {"forge_model": "esmc-300m-2024-12", "per_residue": False, "layer": None, "width": 4, "format": 1}
    j = embed_mod.Journal(path, params)
    j.open()
    j.append(embed_mod.key_of("MK"), np.arange(4, dtype=np.float32))
    j.append(embed_mod.key_of("MKT"), np.ones((3, 4), dtype=np.float32))
    j.close()
    whole = path.stat().st_size
    with path.open("ab") as f:  # a frame half written when the process was killed
        f.write(b"ESMJ\x10\x00\x00\x00partial")
    journal = embed_mod.Journal(path, params)
    done = journal.read()
    assert sorted(done) == sorted([embed_mod.key_of("MK"), embed_mod.key_of("MKT")])
    mk, mkt = journal.vectors([done[embed_mod.key_of("MK")], done[embed_mod.key_of("MKT")]])
    np.testing.assert_array_equal(mk, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(mkt, np.ones((3, 4), dtype=np.float32))
    assert path.stat().st_size == whole  # appends go after the last whole frame

    with pytest.raises(EsmctlError, match="another job.*per_residue"):
        embed_mod.Journal(path, {**params, "per_residue": True}).read()


PARAMS = {"forge_model": "esmc-300m-2024-12", "per_residue": False, "layer": None, "width": 3, "format": 1}


def test_npz_output_is_byte_identical_for_the_same_arrays(tmp_path: Path) -> None:
    records = [embed_mod.Record("a", "MK", 1), embed_mod.Record("b", "MKT", 2)]
    vectors = [np.full(3, 0.5, np.float32), np.full(3, 1.5, np.float32)]
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    embed_mod.write_output(one, records, iter(vectors), per_residue=False, params=PARAMS, width=3)
    embed_mod.write_output(two, records, iter(vectors), per_residue=False, params=PARAMS, width=3)
    assert one.read_bytes() == two.read_bytes()
    with np.load(one) as z:
        assert list(z["ids"]) == ["a", "b"]
        np.testing.assert_array_equal(z["embeddings"], np.stack(vectors))
    params, ids, keys, back = embed_mod.read_output(one)  # what --resume checks before it trusts the file
    assert params == PARAMS and ids == ["a", "b"] and keys == [embed_mod.key_of("MK"), embed_mod.key_of("MKT")]
    np.testing.assert_array_equal(np.stack(list(back)), np.stack(vectors))


def test_per_residue_npz_slices_each_record_by_offsets(tmp_path: Path) -> None:
    records = [embed_mod.Record("a", "MK", 1), embed_mod.Record("b", "MKT", 2)]
    vectors = [np.zeros((2, 3), np.float32), np.ones((3, 3), np.float32)]
    out = tmp_path / "pr.npz"
    embed_mod.write_output(out, records, iter(vectors), per_residue=True, params=PARAMS, width=3, rows=[2, 3])
    with np.load(out) as z:
        off = z["offsets"]
        assert list(off) == [0, 2, 5]
        np.testing.assert_array_equal(z["embeddings"][off[1]:off[2]], vectors[1])


def test_parquet_output_has_id_sequence_and_embedding(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = [embed_mod.Record("a", "MK", 1)]
    out = tmp_path / "o.parquet"
    embed_mod.write_output(out, records, iter([np.array([1, 2, 3], np.float32)]), per_residue=False, params=PARAMS,
                           width=3)
    assert pq.read_table(out).to_pydict() == {"id": ["a"], "sequence": ["MK"], "embedding": [[1.0, 2.0, 3.0]]}
    out = tmp_path / "pr.parquet"
    embed_mod.write_output(out, records, iter([np.ones((2, 3), np.float32)]), per_residue=True, params=PARAMS,
                           width=3, rows=[2])
    assert pq.read_table(out).to_pydict()["embedding"] == [[[1.0] * 3] * 2]
    params, ids, keys, back = embed_mod.read_output(out)
    assert params == PARAMS and ids == ["a"] and keys == [embed_mod.key_of("MK")] and next(back).shape == (2, 3)


def test_an_unknown_output_format_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(EsmctlError, match="Unknown output format"):
        embed_mod.output_format(tmp_path / "out.csv")


@pytest.mark.parametrize(("length", "most"), [(10, 10), (11, 10), (5000, 2048), (333, 100), (2049, 2048)])
def test_windows_cover_the_sequence_and_respect_the_limit(length: int, most: int) -> None:
    spans = client_mod.windows(length, most, 128)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(0 < end - start <= most for start, end in spans)
    assert all(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))  # neighbours overlap
    assert len(spans) == 1 if length <= most else len(spans) > 1


def test_stitching_takes_each_residue_from_its_most_central_window() -> None:
    spans = client_mod.windows(10, 6, 4)  # overlap capped at most // 4 = 1
    parts = [np.full((end - start, 1), i, np.float32) for i, (start, end) in enumerate(spans)]
    rows = client_mod.stitch(spans, parts, 10)
    assert rows.shape == (10, 1)
    assert rows[0, 0] == 0 and rows[-1, 0] == len(spans) - 1


def test_aimd_grows_on_success_shrinks_once_per_window_on_throttling() -> None:
    gate = client_mod.Aimd(4, 16)
    for _ in range(40):
        gate.success()
    grown = gate.current
    assert grown > 4
    before = gate.limit
    gate.throttle()
    gate.throttle()  # a burst of throttling in one window counts once
    assert gate.limit == pytest.approx(before * 0.85) and gate.throttled == 2
    for _ in range(gate.current):
        gate.throttle()  # a window later it shrinks again
    assert gate.limit == pytest.approx(before * 0.85 * 0.85)


def test_aimd_never_lets_more_than_its_limit_in_flight() -> None:
    gate = client_mod.Aimd(2, 2, floor=2)
    gate.acquire()
    gate.acquire()
    third = threading.Thread(target=gate.acquire)
    third.start()
    third.join(timeout=0.2)
    assert third.is_alive()  # blocked: two are in flight
    gate.release()
    third.join(timeout=5)
    assert not third.is_alive() and gate.in_flight == 2


def test_keys_survive_the_round_trip_even_when_a_digest_ends_in_zero_bytes(tmp_path: Path) -> None:
    seq = next(s for s in (f"MK{'A' * i}" for i in range(5000)) if embed_mod.key_of(s)[-1] == 0)
    out = tmp_path / "o.npz"
    embed_mod.write_output(out, [embed_mod.Record("a", seq, 1)], iter([np.zeros(3, np.float32)]), per_residue=False,
                           params=PARAMS, width=3)
    assert embed_mod.read_output(out)[2] == [embed_mod.key_of(seq)]


def test_resume_refuses_an_output_written_with_other_options_and_reembeds_an_edited_record(tmp_path: Path) -> None:
    from tests.unit.test_client import Script, make

    src = tmp_path / "in.fasta"
    src.write_text(">a\nMKTAYIAK\n>b\nMQIFVK\n")
    out = tmp_path / "out.npz"
    embed_mod.Job(make(Script()), src, out).run()
    with pytest.raises(EsmctlError, match="other options.*per_residue"):
        embed_mod.Job(make(Script()), src, out, per_residue=True, resume=True).run()
    src.write_text(">a\nMKTAYIAK\n>b\nMQIFVKTL\n")  # b edited
    script = Script()
    summary = embed_mod.Job(make(script), src, out, resume=True).run()
    assert (summary.done, summary.skipped) == (1, 1)
    assert script.calls == 2  # the tokenizer check and b: a is taken from the earlier output
    with np.load(out) as z:
        assert list(z["ids"]) == ["a", "b"] and z["embeddings"].shape == (2, 960)


def test_resume_rewrites_renamed_ids_and_refuses_an_output_it_cannot_read(tmp_path: Path) -> None:
    from tests.unit.test_client import Script, make

    src, out = tmp_path / "in.fasta", tmp_path / "out.npz"
    src.write_text(">a\nMKTAYIAK\n>b\nMQIFVK\n")
    embed_mod.Job(make(Script()), src, out).run()
    src.write_text(">x\nMKTAYIAK\n>y\nMQIFVK\n")  # the same proteins, renamed
    script = Script()
    assert embed_mod.Job(make(script), src, out, resume=True).run().skipped == 2 and script.calls == 0
    with np.load(out) as z:
        assert list(z["ids"]) == ["x", "y"]
    out.write_bytes(b"not a zip")
    with pytest.raises(EsmctlError, match="cannot be read as an output of esmctl embed"):
        embed_mod.Job(make(Script()), src, out, resume=True).run()


def test_a_job_stopped_before_every_sequence_was_sent_keeps_its_journal_and_writes_nothing(tmp_path: Path) -> None:
    from esmctl.errors import Interrupted
    from tests.unit.test_client import Script, make

    src, out = tmp_path / "in.fasta", tmp_path / "out.npz"
    src.write_text("".join(f">p{i}\nMKT{'A' * i}\n" for i in range(50)))
    job = embed_mod.Job(make(Script()), src, out, concurrency=1)
    job.stop.set()  # e.g. a caller of the library stopping the run
    with pytest.raises(Interrupted, match="not embedded yet"):
        job.run()
    assert not out.exists() and not out.with_name("out.npz.tmp").exists()
    summary = embed_mod.Job(make(Script()), src, out, resume=True).run()  # the same job again: completes
    assert summary.done + summary.skipped == 50 and out.exists()
