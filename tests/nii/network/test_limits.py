"""The receiver's limits and path safety, in process; the doctests of nii.network."""

from __future__ import annotations

import doctest
import importlib
import time

import pydicom
import pytest
from pynetdicom import AE

from nii.cli import main
from nii.network import Peer, Receiver, ReceiverOptions, send

from .tools import every_file


@pytest.fixture
def running(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    receivers = []

    def start(**options) -> Receiver:
        receiver = Receiver(ReceiverOptions(store=store, port=0, ae_title="NIISCP", **options))
        receiver.start()
        receivers.append(receiver)
        return receiver

    yield start
    for receiver in receivers:
        receiver.stop(grace=1)


@pytest.mark.parametrize("name", ["nii.network.common", "nii.network.send", "nii.network.receive", "nii.io"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_concurrent_association_limit(running):
    receiver = running(max_associations=1)
    ae = AE(ae_title="NII")
    ae.add_requested_context("1.2.840.10008.1.1")
    first = ae.associate("127.0.0.1", receiver.port, ae_title="NIISCP")
    assert first.is_established
    second = ae.associate("127.0.0.1", receiver.port, ae_title="NIISCP")
    assert second.is_rejected  # A-ASSOCIATE-RJ: local limit exceeded
    first.release()
    deadline = time.monotonic() + 10  # the server's thread for the first association takes a moment to end
    while not (third := ae.associate("127.0.0.1", receiver.port, ae_title="NIISCP")).is_established:
        assert third.is_rejected and time.monotonic() < deadline
        time.sleep(0.05)
    third.release()


def test_wrong_called_ae_title_is_rejected(running):
    receiver = running()
    ae = AE(ae_title="NII")
    ae.add_requested_context("1.2.840.10008.1.1")
    assert ae.associate("127.0.0.1", receiver.port, ae_title="SOMEONE").is_rejected


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_uids_from_the_network_never_name_a_path_outside_the_store(running, dicos, tmp_path):
    receiver = running()
    dataset = pydicom.dcmread(dicos / "suitcase" / "dx-side-high.dcs")
    dataset.StudyInstanceUID = "../../escaped"
    dataset.SOPInstanceUID = "2.25.1"
    dataset.file_meta.MediaStorageSOPInstanceUID = "2.25.1"
    path = tmp_path / "evil.dcs"
    dataset.save_as(path, enforce_file_format=True)
    before = sorted(p.name for p in tmp_path.parent.iterdir())
    (result,) = send([path], Peer("127.0.0.1", receiver.port, called_ae="NIISCP"), retries=0)
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before
    assert not (tmp_path.parent / "escaped").exists()
    assert result.stored
    (stored,) = every_file(receiver.options.store)
    assert stored.startswith("invalid-") and stored.endswith("/2.25.1.dcs")


def test_a_store_that_cannot_be_written_answers_a700_and_keeps_serving(running, dicos):
    receiver = running()
    incoming = receiver.options.store / ".incoming"
    incoming.rmdir()
    incoming.write_text("not a folder")  # every write into it now fails
    peer = Peer("127.0.0.1", receiver.port, called_ae="NIISCP")
    (result,) = send([dicos / "suitcase" / "dx-side-high.dcs"], peer, retries=0)
    assert (result.stored, result.code) == (False, 0xA700) and "cannot store" in result.message
    incoming.unlink()
    incoming.mkdir()
    (result,) = send([dicos / "suitcase" / "dx-side-high.dcs"], peer, retries=0)
    assert result.stored


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["send", "x.dcs", "--to", "nowhere", "--called-ae", "A"], "address 'nowhere' is not HOST:PORT"),
        (["send", "x.dcs", "--to", "127.0.0.1:104", "--called-ae", "A\\B"], "invalid AE title"),
        (["send", "x.dcs", "--to", "127.0.0.1:104", "--called-ae", "A", "--ca", "ca.pem"], "need --tls"),
        (["send", "missing.dcs", "--to", "127.0.0.1:104", "--called-ae", "A"], "no such file or folder"),
        (["receive", "--port", "0", "--store", "missing"], "store folder does not exist"),
        (["receive", "--port", "0", "--store", ".", "--tls"], "--tls needs --cert and --key"),
    ],
)
def test_bad_options_are_one_line(arguments, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 1
    error = capsys.readouterr().err
    assert error.startswith("nii: error:") and message in error and error.count("\n") == 1


def test_a_file_that_is_not_dicos_is_reported(tmp_path, capsys):
    text = tmp_path / "notes.txt"
    text.write_text("not a scan")
    assert main(["send", str(text), "--to", "127.0.0.1:104", "--called-ae", "A"]) == 1
    assert "notes.txt: not stored: not a DICOM Part 10 file" in capsys.readouterr().err
