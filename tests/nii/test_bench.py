"""The benchmark's two paths do the same job, and nii bench runs end to end."""

import json
import time

import numpy as np
import pydicom

import nii
from nii.bench import naive_convert, nii_convert, run_bench, write_results
from nii.simulate.simulator import simulate


def test_baseline_and_nii_write_the_same_attenuation_codes(tmp_path):
    scan, truth = simulate("suitcase", seed=2, scale=0.25)
    source = tmp_path / "bag.npz"
    nii.write(scan, source)
    nii_convert(source, tmp_path / "nii")
    naive_convert(source, tmp_path / "naive")
    converted = nii.read(tmp_path / "nii")
    for view in scan.views:
        for channel in view.channels:
            ours = converted.view(view.name).channels[channel]
            theirs = pydicom.dcmread(tmp_path / "naive" / f"dx-{view.name}-{channel}.dcs").pixel_array
            good = np.ones(ours.shape, bool)
            good[truth.views[view.name].dead_elements] = False  # nii repairs them, the baseline does not
            flags = converted.view(view.name).channels.get("pixel_flags")
            if flags is not None:  # starved or saturated: nii flags them, the baseline takes the clipped value
                good &= flags == 0
            difference = np.abs(ours[good].astype(np.int32) - theirs[good])
            # float32 logarithm against float64: at most one code apart, almost always equal.
            assert difference.max() <= 1 and np.mean(difference == 0) > 0.99, (view.name, channel)


def test_bench_reports_rates_against_the_baseline(tmp_path):
    results = run_bench(["baggage"], repeats=1, min_seconds=0, folder=tmp_path)
    (result,) = results
    assert result.workload == "baggage" and result.input_mb > 0
    assert result.nii_mb_per_s > 0 and result.naive_mb_per_s > 0 and result.disk_mb_per_s > 0
    assert result.fsync_fraction_of_disk == result.dicos_fsync_mb_per_s / result.disk_mb_per_s
    assert abs(result.speedup - result.nii_mb_per_s / result.naive_mb_per_s) < 1e-9
    write_results(results, tmp_path / "bench.json")
    document = json.loads((tmp_path / "bench.json").read_text())
    assert document["results"][0]["workload"] == "baggage" and document["machine"]["cpus"] >= 1
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # temporary files removed


def test_comparisons_run_rounds_until_the_minimum_time():
    from nii.bench import best_in_turn

    calls = {"a": 0, "b": 0}

    def timed(name, seconds):
        def run():
            calls[name] += 1
            time.sleep(seconds)
            return seconds * calls[name]  # later rounds "slower": the best is the first

        return run

    best = best_in_turn([timed("a", 0.002), timed("b", 0.001)], 2, min_seconds=0.05)
    assert calls["a"] == calls["b"] > 2  # more rounds than asked, in turn
    assert best == [0.002, 0.001]
    calls.update(a=0, b=0)
    best_in_turn([timed("a", 0.0), timed("b", 0.0)], 3, min_seconds=0)
    assert calls == {"a": 3, "b": 3}
