"""Provenance: where a scan's data came from and every processing step applied to it.

Every container format stores it as JSON (:meth:`ProcessingStep.to_dict`), so a result can
be reproduced from its file alone::

    >>> step = ProcessingStep("calibrate", {"dark": "auto"})
    >>> Provenance(source_format="npz").with_step(step).steps[0].name
    'calibrate'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from nii.errors import ValidationError
from nii.validation import require_aware

__all__ = ["ProcessingStep", "Provenance"]


@dataclass(frozen=True)
class ProcessingStep:
    """One processing step applied to the data, with its parameters, for reproducibility."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    software: str | None = None
    performed_at: datetime | None = None

    def __post_init__(self) -> None:
        require_aware(self.performed_at, f"time of processing step {self.name!r}")
        try:  # provenance is stored as JSON by every container format
            json.dumps(self.parameters)
        except (TypeError, ValueError) as error:
            raise ValidationError(f"parameters of processing step {self.name!r} are not JSON data: {error}") from None

    def to_dict(self) -> dict[str, Any]:
        """The step as JSON data, as every container format stores provenance.

        Examples
        --------
        >>> ProcessingStep("resample", {"spacing_mm": (4.0, 4.0)}).to_dict()["parameters"]
        {'spacing_mm': [4.0, 4.0]}
        """
        return {
            "name": self.name,
            "parameters": json.loads(json.dumps(self.parameters)),  # enums to strings, tuples to lists
            "software": self.software,
            "performed_at": self.performed_at.isoformat() if self.performed_at is not None else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessingStep:
        """The step :meth:`to_dict` gave."""
        moment = data.get("performed_at")
        return cls(
            name=data["name"],
            parameters=data.get("parameters", {}),
            software=data.get("software"),
            performed_at=datetime.fromisoformat(moment) if moment else None,
        )


@dataclass(frozen=True)
class Provenance:
    """Where the data came from and what was done to it."""

    source_path: str | None = None
    source_format: str | None = None
    reader_version: str | None = None
    steps: tuple[ProcessingStep, ...] = ()

    def with_step(self, step: ProcessingStep) -> Provenance:
        """A copy with one more processing step appended."""
        return replace(self, steps=(*self.steps, step))
