"""The benchmark's two paths do the same job, and nii bench runs end to end."""

import json
import time

import numpy as np
import pydicom
import pytest

import nii
from nii.bench import (
    BASELINES,
    MachineLoad,
    check_baselines,
    format_results,
    naive_convert,
    nii_convert,
    run_bench,
    watch_machine,
    write_results,
)
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
    assert set(result.baseline_mb_per_s) == {"naive", "numpy-float32", "opencv"}
    best = max(result.baseline_mb_per_s.values())
    assert result.baseline_mb_per_s[result.best_baseline] == best
    assert result.speedup_vs_best == pytest.approx(result.nii_mb_per_s / best)
    assert set(result.seconds_spread) == {"nii", "naive", "numpy-float32", "opencv"}
    assert all(least <= median <= largest for least, median, largest in result.seconds_spread.values())
    lines = format_results(results)
    assert lines[0].startswith("baggage") and "the best baseline" in lines[0] and result.best_baseline in lines[0]
    assert sum("ms per scan (median" in line for line in lines) == 4
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


def test_competent_baselines_write_nii_codes_even_on_dead_elements(tmp_path):
    """The full-size suitcase has a dead detector element per view: the float32 baselines repair it as nii does."""
    scan, truth = simulate("suitcase", seed=1)
    assert all(len(truth.views[view.name].dead_elements) for view in scan.views)
    source = tmp_path / "bag.npz"
    nii.write(scan, source)
    check_baselines(source, tmp_path)  # raises when a baseline's codes differ from nii's by more than one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag.npz"]


def test_a_baseline_doing_other_work_is_refused(tmp_path, monkeypatch):
    scan, _ = simulate("suitcase", seed=2, scale=0.25)
    source = tmp_path / "bag.npz"
    nii.write(scan, source)

    def unscaled(source, target):  # the right calibration, then half the codes: other work
        naive_convert(source, target)
        for path in target.iterdir():
            dataset = pydicom.dcmread(path)
            dataset.PixelData = (dataset.pixel_array // 2).tobytes()
            dataset.save_as(path)

    monkeypatch.setitem(BASELINES, "numpy-float32", unscaled)
    with pytest.raises(nii.NiiError, match="numpy-float32 baseline's codes differ"):
        check_baselines(source, tmp_path)


def test_the_machine_watch_warns_when_others_take_the_cpus():
    assert MachineLoad(others_cpu_fraction=0.05).warning() == ""
    assert "busy" in MachineLoad(others_cpu_fraction=0.6, load_average=3.5).warning()
    assert "steal time was 10%" in MachineLoad(steal_fraction=0.1).warning()
    with watch_machine() as load:
        sum(range(10**6))
    assert 0 <= load.others_cpu_fraction <= 1 and 0 <= load.steal_fraction <= 1
