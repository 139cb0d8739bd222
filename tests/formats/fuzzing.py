"""Mutation fuzzing of nii's readers: damaged copies of a good file, each read in a worker
process with a time limit and a memory cap; anything but a clean ``nii.errors`` exception
(another exception, a hang, a memory blow-up, a crash) is a finding.

The worker is a long-lived subprocess (``python -m tests.formats.fuzzing``) that reads one
path per line on stdin and answers one JSON line per input, so the interpreter and numba start
once per campaign. A worker that hangs is killed and a new one started; one that dies names
the input it was reading.

Run a longer campaign by hand (findings are written to ``--keep``; ``all``: every reader in turn)::

    python -m tests.formats.fuzzing --campaign ref-tiff --seconds 120 --keep /tmp/findings
    python -m tests.formats.fuzzing --campaign all --seconds 70 --guarded --keep /tmp/findings
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

MEMORY_CAP = 3 * 2**30
"""Address space of the worker: a reader that allocates what a damaged header announces hits it."""
INPUT_SECONDS = 10
"""Time one input may take before it counts as a hang."""

INTEGERS = (0, -1, 1, 2**15, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1)
TEXT_NUMBERS = ("0", "-1", "1e308", "2147483648", "9223372036854775808", "99999999999999999999", "nan", "")


def mutate(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """One damaged copy of ``data`` and the name of the damage."""
    kind = rng.choice(["truncate", "flip", "overwrite", "integer", "integer", "text", "magic", "append"])
    damaged = bytearray(data)
    if kind == "truncate":
        damaged = damaged[: rng.randrange(len(damaged))]
    elif kind == "flip":
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
    elif kind == "overwrite":
        start = rng.randrange(len(damaged))
        length = min(rng.randint(1, 64), len(damaged) - start)
        damaged[start : start + length] = rng.choice([rng.randbytes(length), bytes(length), b"\xff" * length])
    elif kind == "integer":
        size = rng.choice([2, 4, 8])
        offset = rng.randrange(max(1, min(len(damaged), 2048) - size))
        value = rng.choice(INTEGERS) % 2 ** (8 * size)
        damaged[offset : offset + size] = value.to_bytes(size, rng.choice(["little", "big"]))
    elif kind == "text":
        numbers = list(re.finditer(rb"-?\d+(\.\d+)?", bytes(damaged[:65536])))
        if numbers:
            match = rng.choice(numbers)
            damaged[match.start() : match.end()] = rng.choice(TEXT_NUMBERS).encode()
    elif kind == "magic":
        damaged[:4] = rng.choice([bytes(4), rng.randbytes(4)])
    else:
        damaged += rng.randbytes(rng.randint(1, 4096))
    return kind, bytes(damaged)


@dataclass(frozen=True)
class Seed:
    """A good input: what ``nii.read`` reads (a file or a folder), the file of it to damage, the read options."""

    read: Path
    damage: Path
    options: dict[str, str] = field(default_factory=dict)


SPECIAL = ("fifo", "symlink-loop", "empty")
"""Inputs that are not damaged bytes: the damaged file replaced by a FIFO, a loop of symbolic links, nothing."""


def make_special(kind: str, path: Path) -> None:
    """Replace ``path`` by a special input."""
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink-loop":
        other = path.with_name(path.name + ".loop")
        other.symlink_to(path.name)
        path.symlink_to(other.name)
    else:
        path.touch()


def remove_special(path: Path) -> None:
    path.unlink()
    path.with_name(path.name + ".loop").unlink(missing_ok=True)


@dataclass
class Campaign:
    """What a campaign tried and found."""

    format: str
    tried: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)
    findings: list[tuple[str, str, bytes]] = field(default_factory=list)
    """(damage, what happened, the damaged bytes)."""


class Worker:
    """The reading subprocess."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.formats.fuzzing", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=Path(__file__).resolve().parents[2],
        )

    def read(self, path: Path, *, options: dict[str, str] | None = None, warm_up: bool = False) -> str:
        """The outcome of ``nii.read(path, **options)``: ``"nii: ..."``, ``"ok"`` or a finding
        (``warm_up``: no time limit)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = json.dumps({"path": str(path), "options": options or {}, "warm_up": warm_up})
        try:
            self.process.stdin.write(request + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return self.died()
        ready, _, _ = select.select([self.process.stdout], [], [], 600 if warm_up else INPUT_SECONDS + 30)
        if not ready:
            self.process.kill()
            self.process.wait()
            return "hang"
        line = self.process.stdout.readline()
        if not line:
            return self.died()
        return str(json.loads(line))

    def died(self) -> str:
        code = self.process.wait()
        return f"died: {signal.Signals(-code).name}" if code < 0 else f"died: exit {code}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.alive():
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)


def run_campaign(
    fmt: str,
    seed: Seed,
    *,
    seconds: float,
    limit: int | None = None,
    rng_seed: int = 0,
    guarded: bool = False,
) -> Campaign:
    """Replace ``seed.damage`` by each :data:`SPECIAL` input, then damage it again and again, reading
    ``seed.read`` each time, for ``seconds`` or ``limit`` inputs (the same ones every run); restore
    it at the end. ``guarded``: also count as findings the library exceptions no reader declared,
    which only the registry's last resort turned into nii errors ("reader failed")."""
    rng = random.Random(f"{fmt}-{rng_seed}")
    member = seed.damage
    original = member.read_bytes()
    campaign = Campaign(fmt)
    worker = Worker()
    assert worker.read(seed.read, options=seed.options, warm_up=True) == "ok"
    deadline = time.monotonic() + seconds
    try:
        for special in SPECIAL:
            make_special(special, member)
            outcome = worker.read(seed.read, options=seed.options)
            remove_special(member)
            member.write_bytes(original)
            worker = _note(campaign, special, outcome, b"", worker, seed, guarded=guarded)
        while time.monotonic() < deadline and (limit is None or campaign.tried < limit):
            kind, damaged = mutate(original, rng)
            member.write_bytes(damaged)
            outcome = worker.read(seed.read, options=seed.options)
            worker = _note(campaign, kind, outcome, damaged, worker, seed, guarded=guarded, original=original)
    finally:
        worker.close()
        member.write_bytes(original)
    return campaign


def _note(
    campaign: Campaign,
    kind: str,
    outcome: str,
    damaged: bytes,
    worker: Worker,
    seed: Seed,
    *,
    guarded: bool,
    original: bytes | None = None,
) -> Worker:
    """Count one outcome; the worker to go on with (a new one if this one died or hung)."""
    campaign.tried += 1
    campaign.outcomes[outcome.split(":")[0]] += 1
    campaign.details[outcome[:120]] += 1
    if not outcome.startswith(("nii", "ok")) or (guarded and " from " in outcome):
        campaign.findings.append((kind, outcome, damaged))
    if worker.alive():
        return worker
    if original is not None:
        seed.damage.write_bytes(original)
    worker = Worker()
    worker.read(seed.read, options=seed.options, warm_up=True)
    return worker


def summary(campaign: Campaign) -> dict[str, int]:
    """The campaign's outcomes in the categories of issue #18's report."""
    counts: Counter[str] = Counter()
    for outcome, count in campaign.details.items():
        if outcome.startswith("nii") and " from " not in outcome:
            counts["clean nii errors"] += count
        elif outcome.startswith("nii") or outcome.startswith("escaped"):
            counts["other exceptions"] += count  # undeclared library exceptions caught by the last resort, too
        elif outcome.startswith("died"):
            counts["signal deaths" if "SIG" in outcome else "exits"] += count
        else:
            counts[{"ok": "read", "hang": "hangs", "memory": "memory blow-ups"}[outcome.split(":")[0]]] += count
    return {"inputs": campaign.tried, **counts}


def touch(scan: object) -> None:
    """Read every array of a scan, so lazy readers decode (and fail) now."""
    for view in scan.views:  # type: ignore[attr-defined]
        for group in (view.channels, view.dark, view.air, view.reference):
            for array in group.values():
                np.asarray(array).sum()
        if view.geometry.line_positions_mm is not None:
            np.asarray(view.geometry.line_positions_mm).sum()
    for volume in scan.volumes:  # type: ignore[attr-defined]
        np.asarray(volume.data).sum()
    for threat in scan.threats:  # type: ignore[attr-defined]
        if threat.mask is not None:
            np.asarray(threat.mask).sum()


class InputTimeout(BaseException):
    """Raised by the alarm in the worker."""


def classify(read: Callable[[], object], *, seconds: int = INPUT_SECONDS) -> str:
    """Run one read in the worker; describe what came out."""
    from nii.errors import LimitExceededError, NiiError

    signal.alarm(seconds)
    try:
        touch(read())
        return "ok"
    except InputTimeout:
        return "hang"
    except NiiError as error:
        if isinstance(error.__cause__, InputTimeout):
            return "hang"
        if isinstance(error, LimitExceededError) and isinstance(error.__cause__, MemoryError):
            return f"memory: {error}"
        cause = error.__cause__
        guarded = f" from {type(cause).__module__}.{type(cause).__name__}" if "reader failed" in str(error) else ""
        return f"nii: {type(error).__name__}{guarded}"
    except BaseException as error:
        return f"escaped: {type(error).__module__}.{type(error).__name__}: {error}"[:500]
    finally:
        signal.alarm(0)


def serve() -> None:
    """The worker's loop: a path per line in, an outcome per line out."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    os.environ.setdefault("NII_THREADS", "1")

    def alarm(signum: int, frame: object) -> None:
        raise InputTimeout

    signal.signal(signal.SIGALRM, alarm)
    import nii

    for line in sys.stdin:
        request = json.loads(line)
        # The good file is read once without a time limit (numba may compile the kernels first).
        seconds = 0 if request["warm_up"] else INPUT_SECONDS
        read = functools.partial(nii.read, request["path"], **request["options"])
        print(json.dumps(classify(read, seconds=seconds)), flush=True)


def keep(campaign: Campaign, folder: Path, seed: Seed) -> list[Path]:
    """Write the findings to ``folder``, each as what was read (a file, or the scan folder with its
    damaged member), with what happened in a ``.txt`` beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for number, (kind, outcome, damaged) in enumerate(campaign.findings):
        # A damaged profile is kept as the profile (read with the good export it describes).
        path = folder / f"{kind}-{number}{seed.damage.suffix if seed.read.is_file() else seed.read.suffix}"
        if seed.read.is_dir():
            shutil.copytree(seed.read, path)
            (path / seed.damage.relative_to(seed.read)).write_bytes(damaged)
        else:
            path.write_bytes(damaged)
        path.with_name(path.name + ".txt").write_text(outcome + "\n")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--campaign", metavar="FORMAT", help="fuzz one reader (see tests/formats/test_fuzz.py), or 'all' of them"
    )
    parser.add_argument("--seconds", type=float, default=60, help="per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="folder for the findings")
    parser.add_argument("--guarded", action="store_true", help="library exceptions caught by the guard are findings")
    args = parser.parse_args()
    if args.worker:
        serve()
        return
    from tests.formats.test_fuzz import SEEDS

    for name in sorted(SEEDS) if args.campaign == "all" else [args.campaign]:
        work = Path(f"/tmp/nii-fuzz-{os.getpid()}-{name}")
        work.mkdir()
        try:
            seed = SEEDS[name](work)
            campaign = run_campaign(name, seed, seconds=args.seconds, rng_seed=args.seed, guarded=args.guarded)
            print(f"{campaign.format}: {json.dumps(summary(campaign))}", flush=True)
            for outcome, count in campaign.details.most_common():
                print(f"  {count:5d} {outcome}")
            for (kind, outcome), count in Counter((kind, outcome) for kind, outcome, _ in campaign.findings).items():
                print(f"  finding ({kind}) x{count}: {outcome}", flush=True)
            if args.keep:
                keep(campaign, args.keep / name, seed)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
