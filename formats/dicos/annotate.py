"""An officer's threat report added to a scan's DICOS folder, beside its images.

The images and earlier reports stay as they are; the new TDR (TDR Type OPERATOR) references the
images of the view its boxes are on, carries the officer's identification and takes the next
free series number and file name (``tdr-operator-<n>.dcs``). It is written atomically, so a
failed write leaves the folder as it was, and :func:`nii.read` of the folder gives the boxes
back as threats of origin OPERATOR.

Examples
--------
>>> add_operator_report(folder, scan.scan_uid, [threat], operator=Operator("officer-17"))  # doctest: +SKIP
PosixPath('scan.dicos/tdr-operator-1.dcs')
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from nii.errors import ConfigurationError, FileAccessError
from nii.io import atomic_output
from nii.model import Operator, Threat, new_uid

from .common import ScanContext
from .dictionary import DX_CLASSES, TDRType
from .dx import DXImage
from .files import read_dataset, write_instance
from .format import dicos_files
from .reading import view_instances
from .tdr import PotentialThreat, ThreatReport

__all__ = ["add_operator_report"]

OPERATOR_ALGORITHM = "nii view"
"""Written as Threat Detection Algorithm and Version of reports made in the viewer."""


def _free_name(folder: Path) -> Path:
    number = 1
    while (folder / f"tdr-operator-{number}.dcs").exists():
        number += 1
    return folder / f"tdr-operator-{number}.dcs"


def _scan_images(folder: Path, scan_uid: str) -> tuple[list[DXImage], int]:
    """The DX images of scan ``scan_uid`` in ``folder``, and the next free series number among its files."""
    images: list[DXImage] = []
    series_numbers = [0]
    for file in dicos_files(folder):
        dataset = read_dataset(file, stop_before_pixels=True)
        if str(dataset.get("StudyInstanceUID", "")) != scan_uid:
            continue
        series_numbers.append(int(dataset.get("SeriesNumber") or 0))
        if str(dataset.get("SOPClassUID", "")) in DX_CLASSES:
            images.append(DXImage.from_dataset(dataset, path=file))
    if not images:
        raise FileAccessError(f"no DX image of scan {scan_uid} in the folder", path=folder)
    return images, max(series_numbers) + 1


def _potential_threat(
    number: int, threat: Threat, references: dict[str, list[tuple[str, str]]], moment: datetime, folder: Path
) -> PotentialThreat:
    """The PTO of an officer's box on a view (``references``: each view's image instances)."""
    if threat.view not in references:
        raise ConfigurationError(f"scan has no view {threat.view!r}; views: {sorted(references)}", path=folder)
    box = threat.box
    return PotentialThreat(
        id=number,
        referenced_instances=tuple(references[threat.view]),
        base=(box.x, box.y, 0),
        extents=(box.width, box.height, 1),
        processing_start=moment,
        processing_end=moment,
        category=str(threat.category),  # type: ignore[arg-type]
        flag=str(threat.assessment),  # type: ignore[arg-type]
        probability=threat.probability if threat.probability is not None else -1.0,
        description=threat.description,
    )


def add_operator_report(
    folder: Path,
    scan_uid: str,
    threats: Sequence[Threat],
    *,
    operator: Operator,
    decided_at: datetime | None = None,
) -> Path:
    """Write ``threats`` as a new OPERATOR TDR into the DICOS folder of scan ``scan_uid``.

    Parameters
    ----------
    folder
        The scan's DICOS folder.
    scan_uid
        Scan Instance UID of the scan (a folder may hold several).
    threats
        Boxes on the scan's views (``threat.view`` names a view as :func:`nii.read` names it).
    operator
        The officer who marked them (identifier required).
    decided_at
        Alarm Decision Time; now by default.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    FileAccessError
        Not a folder, or it holds no DX image of the scan.
    ConfigurationError
        No threats, or a threat on a view the scan does not have.
    """
    if not folder.is_dir():
        raise FileAccessError("threat reports are added to a scan's DICOS folder", path=folder)
    if not threats:
        raise ConfigurationError("no threat to report", path=folder)
    images, series = _scan_images(folder, scan_uid)
    references = view_instances(images)
    moment = (decided_at or datetime.now(UTC)).astimezone()
    ptos = [_potential_threat(number, threat, references, moment, folder) for number, threat in enumerate(threats, 1)]
    context = ScanContext.from_dataset(images[0], path=images[0].path or folder)
    report = ThreatReport(
        context=context,
        series_uid=new_uid(),
        series_number=series,
        series_description="threats OPERATOR",
        threats=ptos,
        referenced_images=[reference for group in references.values() for reference in group],
        alarm_decision_time=moment,
        tdr_type=TDRType.OPERATOR,
        algorithm=[OPERATOR_ALGORITHM],
        operator=(operator.identifier, operator.name),
    )
    target = _free_name(folder)
    with atomic_output(target) as temporary:
        write_instance(temporary, report, version=context.dicos_version)
    return target
