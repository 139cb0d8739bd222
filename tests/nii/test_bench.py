"""The benchmark's two paths do the same job, and nii bench runs end to end."""

import ctypes
import json
import mmap
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise

import numpy as np
import pydicom
import pytest

import nii
from nii.baselines import BASELINES, naive_convert
from nii.bench import (
    MachineLoad,
    Ratio,
    check_baselines,
    drop_cached_pages,
    format_results,
    nii_convert,
    own_cpu_seconds,
    ratio_in_turn,
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


def test_bench_reports_ratios_to_the_best_baseline_warm_and_cold(tmp_path):
    results = run_bench(["baggage"], repeats=2, min_seconds=0, folder=tmp_path)
    (result,) = results
    assert result.workload == "baggage" and result.input_mb > 0 and result.disk_mb_per_s > 0
    assert result.fsync_fraction_of_disk == result.dicos_fsync_mb_per_s / result.disk_mb_per_s
    conversion = result.conversion
    warm = ["nii", *BASELINES, "read+write"]
    cold = [f"{path} cold" for path in warm if path != "naive"]
    assert set(conversion.seconds) == set(warm + cold) and all(len(t) == 2 for t in conversion.seconds.values())
    assert set(BASELINES) == {"naive", "numpy-float32", "opencv", "numba-stream"}
    best, best_cold = conversion.best_baseline(), conversion.best_baseline(cold=True)
    assert conversion.ratio(best).median == min(conversion.ratio(b).median for b in BASELINES)
    assert conversion.ratio(best).best == pytest.approx(min(conversion.seconds[best]) / min(conversion.seconds["nii"]))
    cold_ratios = np.divide(conversion.seconds[f"{best_cold} cold"], conversion.seconds["nii cold"])
    assert conversion.ratio(best_cold, cold=True).median == pytest.approx(np.median(cold_ratios))
    for path in (best, "read+write"):
        for ratio in (conversion.ratio(path), conversion.ratio(path, cold=True)):
            assert ratio.least <= ratio.median <= ratio.largest
    lines = format_results(results)
    assert lines[0].startswith("baggage") and f"the best baseline ({best})" in lines[1] and "cold input" in lines[1]
    assert "machine's limit" in lines[2] and "goal" in lines[2]
    assert sum("ms per scan (median" in line for line in lines) == len(warm + cold)
    write_results(results, tmp_path / "bench.json")
    document = json.loads((tmp_path / "bench.json").read_text())
    saved = document["results"][0]
    assert saved["workload"] == "baggage" and document["machine"]["cpus"] >= 1
    assert saved["summary"]["vs_best"]["median"] == conversion.ratio(best).median
    assert saved["summary"]["goal_met"] == conversion.goal_met()
    assert saved["conversion"]["seconds"]["nii"] == conversion.seconds["nii"]
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]  # temporary files removed


def test_ratios_in_turn_keep_the_spread_of_the_rounds():
    ratio = ratio_in_turn([2.0, 4.0, 3.0], [1.0, 1.0, 1.5])
    assert ratio == Ratio(median=2.0, least=2.0, largest=4.0, best=2.0)
    ratio = ratio_in_turn([1.0, 4.0, 3.0], [2.0, 1.0, 1.0])  # one lucky round of the baseline
    assert ratio == Ratio(median=3.0, least=0.5, largest=4.0, best=1.0)
    assert str(ratio) == "3.00× (rounds 0.50–4.00; best rounds 1.00×)"


def test_dropped_pages_leave_the_page_cache(tmp_path):
    path = tmp_path / "input.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 255, 4 << 20, dtype=np.uint8).tobytes())
    assert resident_fraction(path) > 0.9
    drop_cached_pages(path, flush=True)  # DONTNEED drops only clean pages: flushed first
    assert resident_fraction(path) < 0.1
    path.read_bytes()
    assert resident_fraction(path) > 0.9
    drop_cached_pages(path)  # clean now
    assert resident_fraction(path) < 0.1


def resident_fraction(path):
    """Fraction of ``path``'s pages in the page cache (``mincore`` on a map of the file)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    size = path.stat().st_size
    page = mmap.PAGESIZE
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), size, prot=mmap.PROT_READ) as mapped:
        view = np.frombuffer(mapped, np.uint8)
        address = view.__array_interface__["data"][0]
        pages = (size + page - 1) // page
        vector = (ctypes.c_ubyte * pages)()
        assert libc.mincore(ctypes.c_void_p(address), size, vector) == 0, ctypes.get_errno()
        del view
    return sum(v & 1 for v in vector) / pages


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


def test_paths_run_in_a_new_order_every_round_each_once_per_round():
    from nii.bench import times_in_turn

    ran: list[str] = []

    def path(name: str):  # type: ignore[no-untyped-def]
        return lambda: ran.append(name) or float(len(ran))

    results = times_in_turn([path("a"), path("b"), path("c")], 12, min_seconds=0)
    rounds = [tuple(ran[i : i + 3]) for i in range(0, len(ran), 3)]
    assert len(rounds) == 12 and all(sorted(order) == ["a", "b", "c"] for order in rounds)
    assert len(set(rounds)) > 3  # not one order, nor a rotation of one
    predecessors = {(first, second) for order in rounds for first, second in pairwise(order)}
    assert len(predecessors) == 6  # each path ran right after each other one
    # Each result lands with its own path, whatever the order.
    for index, name in enumerate("abc"):
        assert [ran[int(value) - 1] for value in results[index]] == [name] * 12


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


def _burn_cpu(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_a_pools_workers_count_as_this_process_not_as_others():
    """A batch's workers are started by the fork server and reaped by it: still our own CPU time."""
    before = own_cpu_seconds()
    with ProcessPoolExecutor(2, multiprocessing.get_context("forkserver")) as pool:
        list(pool.map(_burn_cpu, [0.5, 0.5]))
    deadline = time.monotonic() + 10
    while own_cpu_seconds() - before < 0.9:  # the fork server reaps its workers a moment later
        assert time.monotonic() < deadline, own_cpu_seconds() - before
        time.sleep(0.05)


def test_a_virtual_machine_that_returns_free_memory_to_its_host_is_recognised(tmp_path):
    """Feature bit 5 of a bound virtio-balloon device (VIRTIO_BALLOON_F_REPORTING), as sysfs lists it."""
    from nii.bench import memory_returned_to_host

    assert not memory_returned_to_host(tmp_path / "no-driver")
    driver = tmp_path / "virtio_balloon"
    (driver / "virtio0").mkdir(parents=True)
    (driver / "bind").write_text("")
    (driver / "virtio0" / "features").write_text("0110000000000000000000000000000010000000\n")  # stats, deflate
    assert not memory_returned_to_host(driver)
    (driver / "virtio0" / "features").write_text("0110010100000000000000000000000010000000\n")  # + reporting
    assert memory_returned_to_host(driver)
