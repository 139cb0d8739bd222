"""A third-party format: 'EXMP' magic, uint16 rows and columns, then uint16 pixels (one view, one channel)."""

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nii.model import Geometry, Scan, View
from nii.registry import Format


class ExampleFormat(Format):
    name = "example"
    extensions = (".exmp",)
    description = "plug-in test format"
    capabilities = frozenset({"plug-in"})

    def can_read(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"EXMP")

    def read(self, path: Path, **options):
        data = path.read_bytes()
        rows, cols = np.frombuffer(data[4:8], "<u2")
        pixels = np.frombuffer(data[8:], "<u2").reshape(rows, cols)
        return Scan([View("side", {"single": pixels}, Geometry(1.0, 1.0))], datetime(2026, 1, 1, tzinfo=timezone.utc))
