import doctest
import os

import nii.batch
import nii.threads
from nii.batch import Journal, remove_leftovers


def test_docstring_examples_run():
    for module in (nii.batch, nii.threads):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_a_journal_cut_by_a_kill_keeps_its_whole_rows(tmp_path):
    journal = Journal(tmp_path / "r.json.journal", [{"input": "a", "status": "skipped"}])
    journal.append({"input": "b", "status": "ok"})
    journal.close()
    with open(journal.path, "a") as handle:
        handle.write('{"input": "c", "sta')  # the row being written when the batch was killed
    assert [row["input"] for row in Journal.read(journal.path)] == ["a", "b"]
    assert Journal.read(tmp_path / "missing.journal") == []


def test_only_the_temporaries_of_atomic_writes_are_leftovers(tmp_path):
    keep = [
        tmp_path / "scan.npz",
        tmp_path / ".hidden",
        tmp_path / ".scan.npz.partial",
        tmp_path / "x.0123456789ab.partial",
    ]
    for path in keep:
        path.write_bytes(b"")
    folder = tmp_path / "lane" / ".scan.dicos.0123456789ab.partial"
    folder.mkdir(parents=True)
    (folder / "dx-side-high.dcs").write_bytes(b"half")
    old = tmp_path / ".scan.dicos.fedcba987654.old"
    old.write_bytes(b"")
    assert sorted(remove_leftovers(tmp_path)) == sorted([folder, old])
    assert all(path.exists() for path in keep) and not folder.exists() and not old.exists()
    assert sorted(os.listdir(tmp_path / "lane")) == []
