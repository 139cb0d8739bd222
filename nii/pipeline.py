"""The conversion pipeline: read (any format) → processing steps → write, for one scan or a batch.

This is the only place that composes reading, processing and writing, so ``nii convert``,
the Python API and the benchmarks share one implementation.

* :func:`plan` expands files, folders (recursively) and globs into :class:`Job` s whose
  outputs keep the inputs' relative paths.
* :func:`convert_scan` applies the steps of a :class:`Recipe` to one scan; each step is
  recorded in the scan's provenance with its parameters.
* :func:`convert` runs the jobs on the local process pool or on a Dask cluster, at most
  ``workers`` scans in flight, continuing past failures, and returns one
  :class:`JobResult` per input (written as a JSON or CSV report with :func:`write_report`).

Nothing is lost: outputs are written atomically, so an input that fails (or a Ctrl-C)
never leaves a partial output; the report is journaled as inputs finish (:mod:`nii.batch`),
so ``resume=True`` after a crash, even a ``kill -9``, skips inputs whose output exists and
matches the checksum recorded for it. A failure of any kind in one input (a library's
exception, a worker process that dies) fails that input only.

Examples
--------
>>> results = convert(["scans/"], "out/", recipe=Recipe.parse("calibrate,attenuate"))  # doctest: +SKIP
>>> [r.status for r in results]  # doctest: +SKIP
['ok', 'ok']
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import logging
import multiprocessing
import os
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import blake3

import nii
from nii.batch import Journal, PoolProcesses, die_with_parent, journal_path, output_lock, remove_leftovers
from nii.errors import ConfigurationError, FileAccessError, NiiError, ValidationError
from nii.exchange.deidentify import Deidentifier, write_deidentified
from nii.formats import BUILTIN_FORMAT_MODULES
from nii.group_commit import GroupCommit
from nii.io import remove_path, staged_path, start_writeback_tree
from nii.model import Scan
from nii.progress import progress
from nii.provenance import ProcessingStep
from nii.registry import available, find_format, get_format
from nii.steps import STEP_PARAMETERS, STEPS, MaterialMisfitWarning, QuantizeParameters, StepParameters
from nii.threads import set_thread_count

__all__ = [
    "TARGETS",
    "Engine",
    "Job",
    "JobResult",
    "Recipe",
    "Step",
    "convert",
    "convert_scan",
    "find_scans",
    "plan",
    "read_report",
    "run_job",
    "write_report",
]

log = logging.getLogger(__name__)


def _parameters_class(step: str) -> type[StepParameters]:
    if step not in STEP_PARAMETERS:
        raise ConfigurationError(f"unknown processing step {step!r}; steps: {', '.join(sorted(STEPS))}")
    return STEP_PARAMETERS[step]


@dataclass(frozen=True)
class Step:
    """One step of a recipe: its name and its parameters (:mod:`nii.steps`), None for the step's defaults.

    Examples
    --------
    >>> from nii.steps import ResampleParameters
    >>> Step("resample", ResampleParameters((4.0, 4.0))) == Step.parse("resample=4x4")
    True
    >>> str(Step("align"))
    'align'
    """

    name: str
    parameters: StepParameters | None = None

    def __post_init__(self) -> None:
        kind = _parameters_class(self.name)
        if self.parameters is None:
            object.__setattr__(self, "parameters", kind.parse(None))
        elif type(self.parameters) is not kind:
            raise ConfigurationError(f"step {self.name!r} takes {kind.__name__}, got {type(self.parameters).__name__}")

    @classmethod
    def parse(cls, text: str) -> Step:
        """The step written ``name[=argument]`` on the command line."""
        name, _, argument = text.partition("=")
        name = name.strip()
        return cls(name, _parameters_class(name).parse(argument.strip() or None))

    def __str__(self) -> str:
        argument = self.parameters.argument() if self.parameters is not None else None
        return self.name if argument is None else f"{self.name}={argument}"


@dataclass(frozen=True)
class Recipe:
    """What to do between reading and writing: processing steps, then the output format and its options."""

    steps: Sequence[Step] = ()
    """The processing steps, in order (kept as a tuple)."""
    target: str = "dicos"
    options: Mapping[str, Any] = field(default_factory=dict)
    read_options: Mapping[str, Any] = field(default_factory=dict)
    """How every input is read: :func:`nii.read`'s ``format=`` and reader options (``profile=``)."""
    strict: bool = False
    """Make a step's warning that its calibration does not fit the scan (:class:`nii.steps.MaterialMisfitWarning`)
    an error."""
    deidentify: Deidentifier | None = None
    """De-identify the DICOS output (:mod:`nii.exchange.deidentify`); only its result is written."""
    durable: bool = False
    """Report an output done only once its bytes and its rename are on disk (``nii convert --fsync``); a batch
    does it for several outputs at once (:mod:`nii.group_commit`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", tuple(self.steps))
        if self.target not in TARGETS:
            raise ConfigurationError(f"unknown output {self.target!r}; outputs: {', '.join(TARGETS)}")
        if self.deidentify is not None and self.target != "dicos":
            raise ConfigurationError("de-identification needs DICOS output (--to dicos)")

    @classmethod
    def parse(cls, spec: str | None, *, target: str = "dicos", **options: Any) -> Recipe:
        """Build a recipe from ``"step[=arg],step[=arg],..."`` (empty or None: no processing)."""
        steps = [Step.parse(part) for part in (spec or "").split(",") if part.strip()]
        return cls(tuple(steps), target, {k: v for k, v in options.items() if v is not None})

    @property
    def format_name(self) -> str:
        return TARGETS[self.target][0]

    @property
    def suffix(self) -> str:
        return TARGETS[self.target][1]


TARGETS: dict[str, tuple[str, str]] = {
    "dicos": ("dicos", ""),
    "hdf5": ("nii-archive", ".niih5"),
    "png": ("png-export", ".png"),
    "npz": ("npz", ".npz"),
}
"""``--to`` names → (registry format, output suffix; "" for a folder output)."""

SIXTEEN_BIT_TARGETS = frozenset({"dicos"})
"""Outputs that store 16-bit pixels only: float results are quantized (:func:`nii.steps.quantize`)."""


def _apply(scan: Scan, spec: Step, *, strict: bool = False) -> Scan:
    try:
        with warnings.catch_warnings():
            if strict:
                warnings.simplefilter("error", MaterialMisfitWarning)
            scan, parameters = STEPS[spec.name](scan, spec.parameters)
    except MaterialMisfitWarning as misfit:
        raise ValidationError(f"{spec}: {misfit.problem} (--strict)", path=misfit.path) from misfit
    except NiiError as error:
        source = scan.provenance.source_path
        if error.path is not None or source is None:
            raise
        # A step's error is about this scan: name its file, as every other error does.
        raise type(error)(f"{spec}: {error.problem}", path=source) from error
    # No time stamp: the same input and recipe give byte-identical outputs on any engine.
    step = ProcessingStep(name=spec.name, parameters=parameters, software=f"nii {nii.__version__}")
    scan.provenance = scan.provenance.with_step(step)
    return scan


def convert_scan(scan: Scan, recipe: Recipe) -> Scan:
    """Apply the recipe's steps in order, recording each in provenance."""
    for spec in recipe.steps:
        scan = _apply(scan, spec, strict=recipe.strict)
    if recipe.target in SIXTEEN_BIT_TARGETS and any(
        array.dtype.kind == "f" for view in scan.views for array in view.channels.values()
    ):
        scan = _apply(scan, Step("quantize", QuantizeParameters()))
    return scan


class Engine(StrEnum):
    """Where jobs run."""

    LOCAL = "local"
    DASK = "dask"


@dataclass(frozen=True)
class Job:
    """One input and where its output goes; ``skip``: why a file found in a folder is not converted."""

    input: Path
    output: Path
    skip: str = ""


@dataclass
class JobResult:
    """The outcome of one job: a row of the report."""

    input: str
    output: str
    status: str  # "ok", "failed", "skipped"
    error: str = ""
    bytes: int = 0
    seconds: float = 0.0
    checksum: str = ""


def _is_scan_folder(path: Path) -> bool:
    folder_formats = [f for f in available() if "folder" in f.capabilities and f.can_read_files]
    try:
        return any(f.can_read(b"", path) for f in folder_formats)
    except NiiError:
        return True  # a job whose failure names the problem (an unreadable folder), not a silent gap


def _expand(item: str | os.PathLike[str]) -> Iterator[tuple[Path, Path, bool]]:
    """Yield (input, path relative to the item's root, explicitly named) for one CLI argument."""
    text = os.fspath(item)
    if glob.has_magic(text):
        matches = sorted(glob.glob(text, recursive=True))
        if not matches:
            raise FileAccessError("pattern matches no file", path=text)
        root = Path(text.split("*")[0].split("?")[0].split("[")[0])
        root = root if root.is_dir() else root.parent
        for match in matches:
            yield from ((p, p.relative_to(root), named) for p, _, named in _expand(match))
        return
    path = Path(text)
    if not path.exists():
        raise FileAccessError("no such file or folder", path=path)
    if path.is_file() or _is_scan_folder(path):
        yield path, Path(path.name), True
        return
    for current, folders, files in os.walk(path):
        here = Path(current)
        folders.sort()
        for folder in list(folders):
            if _is_scan_folder(here / folder):
                folders.remove(folder)  # one scan, not a tree to walk
                yield here / folder, (here / folder).relative_to(path), False
        for name in sorted(files):
            if not name.startswith("."):
                yield here / name, (here / name).relative_to(path), False


def plan(inputs: Sequence[str | os.PathLike[str]], out_dir: str | os.PathLike[str], recipe: Recipe) -> list[Job]:
    """Expand the inputs into jobs; outputs keep the inputs' relative paths under ``out_dir``.

    Files found by walking a folder that no format recognises (notes, pictures) become
    jobs to skip, with the reason; files named explicitly, and files with the extension of
    a readable format, always become jobs (and fail if unreadable).
    """
    out = Path(out_dir)
    jobs: list[Job] = []
    seen: set[Path] = set()
    for item in inputs:
        for path, relative, named in _expand(item):
            if path in seen:
                continue
            seen.add(path)
            stem = relative.with_suffix("") if path.is_file() else relative
            output = out / stem.parent / f"{stem.name}{recipe.suffix}"
            reason = "" if named or not path.is_file() else _not_a_scan(path, recipe.read_options)
            if reason:
                log.info("%s, left out", reason)
            jobs.append(Job(path, output, reason))
    # Counter, not list.count: batches of many thousands of files must not plan in quadratic time.
    clashes = {output for output, count in Counter(j.output for j in jobs if not j.skip).items() if count > 1}
    if clashes:
        raise ConfigurationError(f"several inputs would write the same output: {sorted(map(str, clashes))[:3]}")
    return jobs


def find_scans(
    inputs: Sequence[str | os.PathLike[str]], *, read_options: Mapping[str, Any] | None = None
) -> list[Path]:
    """The scan files and folders the inputs name, found as :func:`plan` finds them (no output planned).

    Files found by walking a folder that are not scans (with a ``profile`` among the ``read_options``
    of :func:`nii.read`: that do not fit it) are left out; files named explicitly are kept (reading
    them says what is wrong).
    """
    found: dict[Path, None] = {}
    for item in inputs:
        for path, _, named in _expand(item):
            if named or not path.is_file() or not _not_a_scan(path, read_options or {}):
                found[path] = None
    return list(found)


def _not_a_scan(path: Path, read_options: Mapping[str, Any]) -> str:
    """Why a file found in a folder is no job ("" when it is one); with a profile, the files that fit it."""
    try:
        if read_options.get("profile") is not None:
            from nii.formats.profile import fits

            return "" if fits(read_options["profile"], path) else f"{path}: does not fit the profile, left out"
        find_format(path)
    except NiiError as error:
        if path.suffix.lower() == ".npz" and path.with_suffix(".json").is_file():
            # nii simulate writes a scan's ground truth as STEM.npz + STEM.json beside it.
            return f"{path}: ground truth of a simulated scan (beside {path.with_suffix('.json').name}), not a scan"
        if path.name.lower().endswith(tuple(ext for f in available() if f.can_read_files for ext in f.extensions)):
            return ""  # a scan's name that no reader takes: a failure to report
        return str(error)
    return ""


CHECKSUM_ALGORITHMS = ("blake3", "sha256")
"""What a report's checksums may be: ``blake3:<hex>`` (written now: BLAKE3 hashes 3–4 times as fast as
SHA-256 here, about half of a cargo scan's time in a batch went to SHA-256), or a bare SHA-256 hex
(reports written before), still verified on ``--resume``."""


def checksum(path: Path, *, algorithm: str = "blake3") -> str:
    """The checksum of a file, or of a folder's files (names and contents, in name order): ``blake3:`` and the
    BLAKE3 hex digest, or with ``algorithm="sha256"`` the bare SHA-256 hex digest (older reports').

    Examples
    --------
    >>> import tempfile
    >>> file = Path(tempfile.mkdtemp()) / "a"
    >>> _ = file.write_bytes(b"abc")
    >>> checksum(file)
    'blake3:6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85'
    >>> checksum(file, algorithm="sha256")
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise ValidationError(f"checksum algorithm must be one of {', '.join(CHECKSUM_ALGORITHMS)}, got {algorithm!r}")
    digest: Any = blake3.blake3() if algorithm == "blake3" else hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode() + b"\0")
        if algorithm == "blake3":
            digest.update_mmap(file)
            continue
        with open(file, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    return f"blake3:{digest.hexdigest()}" if algorithm == "blake3" else digest.hexdigest()


def _algorithm(recorded: str) -> str:
    """The algorithm of a report's checksum: its prefix, none for SHA-256 (reports before BLAKE3)."""
    return recorded.split(":", 1)[0] if ":" in recorded else "sha256"


def output_bytes(path: Path) -> int:
    """Size of an output file, or of all the files of an output folder."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def run_job(job: Job, recipe: Recipe, threads: int | None = None) -> JobResult:
    """Convert one input; never raises for a problem with the input (it becomes a failed result).

    ``threads`` caps the kernels' and :mod:`nii.threads`' threads in this worker: with one
    worker per core, more threads than cores make OpenMP barriers spin against each other
    (milliseconds per call).
    """
    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
        set_thread_count(threads)
    start = time.perf_counter()
    # A durable batch's output is left under its staged name, its writeback started: the batch
    # flushes and renames it with others (nii.group_commit), not each worker on its own.
    written = staged_path(job.output) if recipe.durable else job.output
    try:
        scan = nii.read(job.input, **recipe.read_options)
        scan = convert_scan(scan, recipe)
        job.output.parent.mkdir(parents=True, exist_ok=True)
        if recipe.deidentify is not None:
            write_deidentified(scan, written, recipe.deidentify, **recipe.options)
        else:
            nii.write(scan, written, format=recipe.format_name, **recipe.options)
        if recipe.durable:
            start_writeback_tree(written)
        return JobResult(
            str(job.input),
            str(job.output),
            "ok",
            bytes=output_bytes(written),
            seconds=time.perf_counter() - start,
            checksum=checksum(written),
        )
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # a library's panic is a BaseException; it fails this input only
        if recipe.durable:
            remove_path(written)
        return JobResult(
            str(job.input), str(job.output), "failed", _describe(error, job), seconds=time.perf_counter() - start
        )


def _describe(error: BaseException, job: Job) -> str:
    """One line naming the file: nii's errors do; a system error names its file or the output."""
    if isinstance(error, NiiError):
        return str(error)
    if isinstance(error, OSError):
        return f"{error.filename or job.output}: {error.strerror or error}"
    if isinstance(error, MemoryError):
        return f"{job.input}: out of memory"
    return f"{job.input}: {type(error).__name__}: {error}"


def _resumable(job: Job, previous: Mapping[str, JobResult]) -> JobResult | None:
    row = previous.get(str(job.input))
    if row is None or not row.checksum or row.output != str(job.output) or not job.output.exists():
        return None
    algorithm = _algorithm(row.checksum)
    if algorithm not in CHECKSUM_ALGORITHMS or checksum(job.output, algorithm=algorithm) != row.checksum:
        log.warning("%s: output differs from the report's checksum, converting again", job.output)
        return None
    return JobResult(row.input, row.output, "skipped", bytes=row.bytes, checksum=row.checksum)


def convert(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    recipe: Recipe | None = None,
    workers: int | None = None,
    engine: Engine | str = Engine.LOCAL,
    scheduler: str | None = None,
    resume: bool = False,
    report: str | os.PathLike[str] | None = None,
    on_result: Callable[[JobResult], Any] | None = None,
) -> list[JobResult]:
    """Convert every input; return one result per input, in input order.

    Parameters
    ----------
    inputs
        Files, folders (walked recursively) and glob patterns.
    out_dir
        Root of the outputs (created if missing).
    recipe
        Steps and output format; DICOS without processing by default.
    workers
        Scans in flight at once (processes for the local engine); default: the number of cores.
    engine, scheduler
        ``"local"`` (a process pool) or ``"dask"`` (``scheduler`` address such as
        ``"tcp://127.0.0.1:8786"``; a LocalCluster when None).
    resume
        Skip inputs whose output exists and matches the checksum in ``report``.
    report
        Where to write the report (``.json`` or ``.csv``); also read when resuming.
    on_result
        Called with each input's result as its conversion ends (with ``recipe.durable``, before its output is
        made durable and reported).
    """
    recipe = recipe or Recipe()
    get_format(recipe.format_name)  # fail before any work when the writer is missing
    engine = Engine(engine)
    if resume and report is None:
        raise ConfigurationError("resuming needs the report of the earlier run")
    workers = max(1, workers or os.cpu_count() or 1)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FileAccessError(f"cannot create the output folder: {error.strerror}", path=out) from error
    with output_lock(out):
        for leftover in remove_leftovers(out):
            log.info("%s: left by an interrupted run, removed", leftover)
        jobs = plan(inputs, out, recipe)
        previous = _previous_results(report) if resume and report is not None else {}
        results, pending = _split_jobs(jobs, previous, resume=resume)
        journal = (
            Journal(journal_path(report), [asdict(r) for r in results.values()], durable=recipe.durable)
            if report is not None
            else None
        )

        def record(group: list[tuple[int, dict[str, Any]]]) -> None:
            for index, row in group:
                results[index] = result = JobResult(**row)
                if result.status == "failed":
                    log.info("failed: %s", result.error)  # the caller reports failures, once

        try:
            with GroupCommit(journal, out, on_commit=record, durable=recipe.durable) as commit:
                _run_jobs(pending, recipe, workers, engine, scheduler, commit, on_result)
        finally:
            # The report is written even when interrupted; after a kill, the journal stands in for it.
            ordered = [results[i] for i in sorted(results)]
            if report is not None and journal is not None:
                write_report(ordered, report, fsync=recipe.durable)  # on disk before its journal goes
                journal.close()
                journal.path.unlink(missing_ok=True)
    return ordered


def _split_jobs(
    jobs: Sequence[Job], previous: Mapping[str, JobResult], *, resume: bool
) -> tuple[dict[int, JobResult], list[tuple[int, Job]]]:
    """The results known before running (files to skip, outputs a resumed batch verified) by job index,
    and the jobs to run with their indices."""
    results: dict[int, JobResult] = {}
    pending: list[tuple[int, Job]] = []
    for index, job in enumerate(jobs):
        done = _resumable(job, previous) if resume else None
        if job.skip:
            results[index] = JobResult(str(job.input), "", "skipped", job.skip)
        elif done is not None:
            results[index] = done
        else:
            pending.append((index, job))
    return results, pending


def _run_jobs(
    pending: Sequence[tuple[int, Job]],
    recipe: Recipe,
    workers: int,
    engine: Engine,
    scheduler: str | None,
    commit: GroupCommit,
    on_result: Callable[[JobResult], Any] | None,
) -> None:
    """Run the jobs, handing each result to ``on_result`` and ``commit`` (with its output's staged name when the
    recipe is durable)."""
    runner = _run_dask if engine is Engine.DASK else _run_local
    for index, result in progress(
        runner(pending, recipe, workers, scheduler), total=len(pending), desc="convert", unit="scan"
    ):
        if on_result is not None:
            on_result(result)
        staged = staged_path(result.output) if recipe.durable and result.status == "ok" else None
        commit.add(index, asdict(result), staged, Path(result.output), result.bytes)


def _previous_results(report: str | os.PathLike[str]) -> dict[str, JobResult]:
    """The rows of the earlier run: its report, then its journal (newer) if it was killed."""
    rows = {row.input: row for row in read_report(report)} if Path(report).exists() else {}
    journal = journal_path(report)
    try:
        rows |= {row.input: row for row in map(_result_from_row, Journal.read(journal))}
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"cannot read the report's journal: {error}", path=journal) from error
    return rows


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def _run_local(
    pending: Sequence[tuple[int, Job]], recipe: Recipe, workers: int, scheduler: str | None
) -> Iterator[tuple[int, JobResult]]:
    if workers == 1:
        for index, job in pending:
            yield index, run_job(job, recipe)
        return
    queue = list(reversed(pending))
    suspects: list[tuple[int, Job]] = []  # in flight when a worker process died
    while queue or suspects:
        if suspects:
            # Alone in a pool of one, so a crash names its input and spares the others.
            index, job = suspects.pop()
            crashed: list[tuple[int, Job]] = []
            yield from _run_pool([(index, job)], crashed, recipe, 1)
            if crashed:
                error = "the process converting it died (a crash in a library it uses)"
                yield index, JobResult(str(job.input), str(job.output), "failed", f"{job.input}: {error}")
        else:
            yield from _run_pool(queue, suspects, recipe, workers)


WORKER_CHECK_SECONDS = 0.5
"""How often a waiting batch checks that none of its workers died unseen."""

WORKER_MODULES = ("__main__", "nii.pipeline", *BUILTIN_FORMAT_MODULES, "nii.worker_preload")
"""Modules the fork server imports before it forks workers: each worker starts with them (instead of importing
them, about half a second each), and every later pool of this process starts that much sooner; with
:mod:`nii.worker_preload`, numba's registries too, which a worker would otherwise load on its first scan. The fork
server only imports and loads; it never runs a kernel, so no numba thread exists when it forks."""


def _run_pool(
    queue: list[tuple[int, Job]], crashed: list[tuple[int, Job]], recipe: Recipe, workers: int
) -> Iterator[tuple[int, JobResult]]:
    """Run ``queue`` (popped from the end) on a new pool until it is empty or a worker dies;
    then the jobs that were in flight go to ``crashed``."""
    threads = _threads_per_worker(workers)
    # forkserver: numba's OpenMP threads make fork() from this process unsafe.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(WORKER_MODULES))  # takes effect when the fork server starts
    processes = PoolProcesses()
    with ProcessPoolExecutor(workers, context, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        in_flight: dict[Future[JobResult], tuple[int, Job]] = {}
        try:
            while queue or in_flight:
                # At most `workers` scans in flight bounds memory, whatever the batch size.
                while queue and len(in_flight) < workers:
                    try:
                        future = pool.submit(run_job, queue[-1][1], recipe, threads)
                    except BrokenProcessPool:
                        # A worker died since the last wait. This job was never given to one; those in flight
                        # end below, as results or as crashed. With none in flight, this pool has given results
                        # (a new pool is not yet broken at its first submit), so another one always makes progress.
                        if not in_flight:
                            processes.end()
                            return
                        break
                    in_flight[future] = queue.pop()
                finished, _ = wait(in_flight, timeout=WORKER_CHECK_SECONDS, return_when=FIRST_COMPLETED)
                if not finished and processes.any_died():
                    # The pool may not have seen it: ending the others breaks the pool for sure.
                    processes.end()
                for future in finished:
                    index, job = in_flight.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        crashed.append((index, job))
                        continue
                    yield index, result
                if crashed:
                    crashed.extend(in_flight.values())
                    processes.end()  # leaving the `with` joins them: none may be blocked
                    return
        except BaseException:
            for future in in_flight:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _run_dask(
    pending: Sequence[tuple[int, Job]], recipe: Recipe, workers: int, scheduler: str | None
) -> Iterator[tuple[int, JobResult]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError as error:
        raise ConfigurationError("the dask engine needs the 'dask' extra: pip install 'nii[dask]'") from error
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster if cluster is not None else scheduler)
    # Workers of a remote cluster have their own cores; share this machine's between local ones.
    threads = _threads_per_worker(workers) if cluster is not None else None
    try:
        queue = list(reversed(pending))
        submitted: dict[Any, tuple[int, Job]] = {}
        completed = as_completed()

        def submit_next() -> None:
            index, job = queue.pop()
            future = client.submit(run_job, job, recipe, threads, pure=False)
            submitted[future.key] = (index, job)
            completed.add(future)

        while queue and len(submitted) < workers:
            submit_next()
        for future in completed:
            index, job = submitted.pop(future.key)
            try:
                result = future.result()
            except Exception as error:  # a worker that died (KilledWorker) fails this input only
                result = JobResult(str(job.input), str(job.output), "failed", f"{job.input}: {error}")
            yield index, result
            if queue:
                submit_next()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


REPORT_FIELDS = [f for f in JobResult.__dataclass_fields__]


def _result_from_row(row: Mapping[str, Any]) -> JobResult:
    return JobResult(**{**row, "bytes": int(row["bytes"]), "seconds": float(row["seconds"])})


def write_report(results: Iterable[JobResult], path: str | os.PathLike[str], *, fsync: bool = False) -> None:
    """Write the report as JSON (``.json``) or CSV (anything else), atomically (``fsync``: durably too)."""
    from nii.io import write_table

    write_table([asdict(r) for r in results], path, fields=REPORT_FIELDS, fsync=fsync)


def read_report(path: str | os.PathLike[str] | None) -> list[JobResult]:
    """Read a report written by :func:`write_report`."""
    if path is None:
        return []
    path = Path(path)
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text())
        else:
            with open(path, newline="") as handle:
                rows = list(csv.DictReader(handle))
        return [_result_from_row(row) for row in rows]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigurationError(f"cannot read the report: {error}", path=path) from error
