"""The writer thread's loop (:mod:`nii.writer_thread`), compiled by numba to run without the GIL.

A module of its own, imported on first use, so that importing nii does not import numba and
the compiled loop is cached (module-level functions are; closures are compiled anew).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types

from nii.writer_thread import _MAX_PARTS, _REPORT, _REQUEST, _START_WRITEBACK

__all__ = ["loop"]

# Pointer arguments are declared as 64-bit integers: the same registers on the 64-bit Linux
# ABIs, and numba passes addresses from numpy as integers.
_read: Any = types.ExternalFunction("read", types.int64(types.int32, types.int64, types.int64))
_write: Any = types.ExternalFunction("write", types.int64(types.int32, types.int64, types.int64))
_pwrite: Any = types.ExternalFunction("pwrite", types.int64(types.int32, types.int64, types.int64, types.int64))
_close: Any = types.ExternalFunction("close", types.int32(types.int32))
_sync_file_range: Any = types.ExternalFunction(
    "sync_file_range", types.int32(types.int32, types.int64, types.int64, types.uint32)
)
_SYNC_FILE_RANGE_WRITE = 2
_REQUEST_SIZE, _REPORT_SIZE = _REQUEST.size, _REPORT.size


@numba.njit(nogil=True, cache=True)
def loop(request_fd: int, report_fd: int) -> None:  # pragma: no cover - compiled
    """Serve write requests from ``request_fd`` until index -1 or the end of the pipe; report each file."""
    request = np.zeros(_REQUEST_SIZE // 8, np.int64)
    report = np.zeros(_REPORT_SIZE // 8, np.int64)
    request_address, report_address = request.ctypes.data, report.ctypes.data
    report[0] = -1
    _write(report_fd, report_address, _REPORT_SIZE)
    failures = 0
    while True:
        received = 0
        while received < _REQUEST_SIZE:
            count = _read(request_fd, request_address + received, _REQUEST_SIZE - received)
            if count == 0:
                return  # the caller closed the pipe
            if count < 0:
                failures += 1  # interrupted; give up only if it keeps failing
                if failures > 1000:
                    return
                continue
            received += count
        if request[0] < 0:
            return
        descriptor = request[1]
        offset = 0
        status = 0
        for part in range(_MAX_PARTS):
            address, length = request[3 + 2 * part], request[4 + 2 * part]
            done = 0
            while done < length:
                count = _pwrite(descriptor, address + done, length - done, offset + done)
                if count <= 0:
                    status = -1
                    break
                done += count
            offset += done
            if status:
                break
        if status == 0 and request[2] & _START_WRITEBACK:
            _sync_file_range(descriptor, 0, 0, _SYNC_FILE_RANGE_WRITE)
        _close(descriptor)
        report[0], report[1], report[2] = request[0], status, offset
        sent = 0
        while sent < _REPORT_SIZE:
            count = _write(report_fd, report_address + sent, _REPORT_SIZE - sent)
            if count <= 0:
                return
            sent += count
