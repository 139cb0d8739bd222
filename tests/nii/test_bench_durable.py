"""The durable-batch measurement of nii bench (nii.bench_durable) runs end to end and says what it measured."""

import dataclasses

from nii.bench import RECIPE, Ratio
from nii.bench_durable import DurableBatch, make_batch, time_batch, time_durable_batch
from nii.pipeline import read_report


def test_a_batch_is_timed_whole_and_after_its_first_scan(tmp_path):
    inputs = make_batch("baggage", tmp_path / "in", 3, scale=0.1)
    timing = time_batch(inputs, tmp_path / "out", dataclasses.replace(RECIPE, durable=True), keep=True)
    rows = read_report(tmp_path / "out.json")
    assert [row.status for row in rows] == ["ok"] * 3
    total = sum(row.bytes for row in rows)
    assert timing.steady_bytes in {total - row.bytes for row in rows}  # all but the first to finish
    assert 0 < timing.steady_seconds < timing.seconds


def test_durable_batch_is_timed_against_the_plain_batch_and_the_disk(tmp_path):
    batch = time_durable_batch("baggage", rounds=1, scans=2, folder=tmp_path, scale=0.1)
    assert batch.scans == 2 and batch.workers == 2 and batch.output_mb > 0
    for least, median, largest in (batch.durable_seconds, batch.plain_seconds, batch.disk_seconds):
        assert 0 < least <= median <= largest
    # One round: every share is that round's ratio of times (of rates after start-up).
    assert batch.of_disk.median == batch.of_disk.best == batch.disk_seconds[0] / batch.durable_seconds[0]
    assert batch.of_plain.median == batch.plain_seconds[0] / batch.durable_seconds[0]
    assert batch.of_bound.median == max(batch.of_disk.median, batch.of_plain.median)  # of the slower one
    assert batch.steady_of_bound.median == max(batch.steady_of_disk.median, batch.steady_of_plain.median) > 0
    assert list(tmp_path.iterdir()) == []  # inputs, outputs and reports removed


def test_the_figures_give_the_share_of_the_disk_with_its_spread():
    batch = DurableBatch(
        workload="baggage",
        scans=40,
        workers=2,
        output_mb=400.0,
        durable_seconds=(5.0, 5.5, 6.0),
        plain_seconds=(4.5, 5.0, 5.5),
        disk_seconds=(4.0, 4.4, 5.0),
        of_disk=Ratio(0.8, 0.7, 0.9, 0.8),
        of_plain=Ratio(0.9, 0.85, 0.95, 0.9),
        of_bound=Ratio(0.9, 0.85, 0.95, 0.9),
        steady_of_disk=Ratio(0.9, 0.85, 0.95, 0.95),
        steady_of_plain=Ratio(0.97, 0.96, 0.99, 0.97),
        steady_of_bound=Ratio(0.97, 0.96, 0.99, 0.97),
    )
    assert batch.durable_mb_per_s == 80.0 and batch.disk_mb_per_s == 100.0
    assert batch.line() == (
        "  durable batch (nii convert --fsync, 2 workers, 40 scans, 400 MB): 80 MB/s in its best round, against the"
        " disk's durable rate 100 MB/s: 80% (rounds 70%–90%; best rounds 80%) of the disk's rate, 90% (rounds"
        " 85%–95%; best rounds 90%) of the same batch without --fsync, 90% (rounds 85%–95%; best rounds 90%) of the"
        " lower of the two; after start-up 90% (rounds 85%–95%; best rounds 95%) of the disk's rate, 97% (rounds"
        " 96%–99%; best rounds 97%) of the batch without --fsync, 97% (rounds 96%–99%; best rounds 97%) of the lower"
    )
