"""Group commit (nii.group_commit): what is durable before what, how groups are bounded, and that a
failure to flush one output fails that output only."""

import doctest
import os
import time

import nii.group_commit
from nii.batch import Journal
from nii.group_commit import GroupCommit
from nii.io import staged_path


def test_docstring_examples_run():
    result = doctest.testmod(nii.group_commit, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def stage(root, name, content=b"pixels"):
    """A finished output as a worker leaves it: a folder of files under its staged name."""
    target = root / "lane" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = staged_path(target)
    staged.mkdir()
    (staged / "dx-top-high.dcs").write_bytes(content)
    (staged / "dx-top-low.dcs").write_bytes(content)
    return staged, target


def test_bytes_and_renames_are_durable_before_the_journal_and_the_journal_before_the_report(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))), real_fsync(fd))[1]
    )
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("rename", str(b))), real_replace(a, b))[1])
    journal = Journal(tmp_path / "report.json.journal")
    events.clear()
    reported = []

    def on_commit(group):
        rows = Journal.read(journal.path)  # what a crash from now on would find
        reported.append([key for key, _ in group])
        events.append(("report", [row["input"] for row in rows]))

    staged = [stage(tmp_path / "out", f"scan{i}") for i in range(3)]
    with GroupCommit(journal, tmp_path / "out", on_commit=on_commit, max_seconds=60) as commit:
        for i, (path, target) in enumerate(staged):
            commit.add(i, {"input": f"scan{i}", "status": "ok"}, path, target, 12)
    journal.close()
    assert reported == [[0, 1, 2]]  # one group: closed by close(), long before 60 s
    kinds = [kind for kind, _ in events]
    flushed = [path for kind, path in events if kind == "fsync"]
    renames = [i for i, kind in enumerate(kinds) if kind == "rename"]
    # 1. every file of every staged output, and each staged folder, flushed before any rename
    assert all(".partial" in path for path in flushed[:9]) and len(set(flushed[:9])) == 9
    assert renames == [9, 10, 11]
    # 2. the renames made durable: the folder they went into, then its parents up to the root
    assert flushed[9:11] == [str(tmp_path / "out" / "lane"), str(tmp_path / "out")]
    # 3. the journal flushed once for the group, after the renames; 4. the rows reported after that
    assert events[-2:] == [("fsync", str(journal.path)), ("report", ["scan0", "scan1", "scan2"])]
    assert [target.exists() and not path.exists() for path, target in staged] == [True] * 3


def test_groups_are_bounded_by_count_and_bytes(tmp_path):
    groups = []
    with GroupCommit(None, tmp_path, on_commit=groups.append, max_count=3, max_seconds=60) as commit:
        for i in range(7):
            commit.add(i, {"input": str(i)})
    assert [[key for key, _ in group] for group in groups] == [[0, 1, 2], [3, 4, 5], [6]]
    groups.clear()
    with GroupCommit(None, tmp_path, on_commit=groups.append, max_bytes=100, max_seconds=60) as commit:
        for i in range(5):
            commit.add(i, {"input": str(i)}, nbytes=60)
    assert [len(group) for group in groups] == [2, 2, 1]


def test_a_slow_trickle_is_reported_promptly(tmp_path):
    """One scan now and then: each is committed max_seconds after it finished, not when the batch ends."""
    reported = []
    with GroupCommit(None, tmp_path, on_commit=reported.extend, max_seconds=0.05) as commit:
        for i in range(3):
            staged, target = stage(tmp_path, f"scan{i}")
            commit.add(i, {"input": str(i), "status": "ok"}, staged, target, 12)
            deadline = time.monotonic() + 10
            while len(reported) <= i and time.monotonic() < deadline:
                time.sleep(0.01)
            assert [key for key, _ in reported] == list(range(i + 1))  # before the next one arrives
    assert commit.groups == 3


def test_an_output_that_cannot_be_flushed_fails_alone_naming_itself(tmp_path):
    good, good_target = stage(tmp_path, "good")
    _, lost_target = stage(tmp_path, "lost")
    journal = Journal(tmp_path / "r.journal")
    reported = {}
    with GroupCommit(journal, tmp_path, on_commit=lambda group: reported.update(group), max_seconds=60) as commit:
        commit.add(0, {"input": "good", "status": "ok", "checksum": "c", "bytes": 12}, good, good_target, 12)
        missing = tmp_path / "lane" / ".lost.0123456789ab.partial"  # vanished before the commit
        commit.add(1, {"input": "lost", "status": "ok", "checksum": "c", "bytes": 12}, missing, lost_target, 12)
    journal.close()
    assert reported[0]["status"] == "ok" and good_target.is_dir()
    assert reported[1]["status"] == "failed" and reported[1]["checksum"] == ""
    assert reported[1]["error"].startswith(f"{missing}: No such file")
    assert not lost_target.exists()
    assert [row["status"] for row in Journal.read(journal.path)] == ["ok", "failed"]


def test_without_durability_rows_are_journaled_and_reported_at_once(tmp_path):
    journal = Journal(tmp_path / "r.journal")
    reported = []
    commit = GroupCommit(journal, tmp_path, on_commit=reported.extend, durable=False)
    commit.add(4, {"input": "a", "status": "ok"})
    assert reported == [(4, {"input": "a", "status": "ok"})]
    assert Journal.read(journal.path) == [{"input": "a", "status": "ok"}]
    commit.close()
    journal.close()
