"""The pieces of `esmctl embed` a user notices, without an endpoint: reading and checking records,
the journal a killed run resumes from, the output files, windows for long sequences, and the
concurrency gate."""

from __future__ import annotations

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
    done = embed_mod.Journal(path, params).read()
    assert sorted(done) == sorted([embed_mod.key_of("MK"), embed_mod.key_of("MKT")])
    np.testing.assert_array_equal(done[embed_mod.key_of("MK")], np.arange(4, dtype=np.float32))
    assert done[embed_mod.key_of("MKT")].shape == (3, 4)
    assert path.stat().st_size == whole  # appends go after the last whole frame

    with pytest.raises(EsmctlError, match="another job.*per_residue"):
        embed_mod.Journal(path, {**params, "per_residue": True}).read()


def test_npz_output_is_byte_identical_for_the_same_arrays(tmp_path: Path) -> None:
    records = [embed_mod.Record("a", "MK", 1), embed_mod.Record("b", "MKT", 2)]
    vectors = [np.full(3, 0.5, np.float32), np.full(3, 1.5, np.float32)]
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    embed_mod.write_output(one, records, vectors, per_residue=False)
    embed_mod.write_output(two, records, vectors, per_residue=False)
    assert one.read_bytes() == two.read_bytes()
    with np.load(one) as z:
        assert list(z["ids"]) == ["a", "b"]
        np.testing.assert_array_equal(z["embeddings"], np.stack(vectors))


def test_per_residue_npz_slices_each_record_by_offsets(tmp_path: Path) -> None:
    records = [embed_mod.Record("a", "MK", 1), embed_mod.Record("b", "MKT", 2)]
    vectors = [np.zeros((2, 3), np.float32), np.ones((3, 3), np.float32)]
    out = tmp_path / "pr.npz"
    embed_mod.write_output(out, records, vectors, per_residue=True)
    with np.load(out) as z:
        off = z["offsets"]
        assert list(off) == [0, 2, 5]
        np.testing.assert_array_equal(z["embeddings"][off[1]:off[2]], vectors[1])


def test_parquet_output_has_id_sequence_and_embedding(tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    records = [embed_mod.Record("a", "MK", 1)]
    out = tmp_path / "o.parquet"
    embed_mod.write_output(out, records, [np.array([1, 2, 3], np.float32)], per_residue=False)
    assert pq.read_table(out).to_pydict() == {"id": ["a"], "sequence": ["MK"], "embedding": [[1.0, 2.0, 3.0]]}


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
