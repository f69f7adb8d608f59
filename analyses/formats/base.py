"""What every report format is given besides the traces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tdxray.analyses.baseline import BaselineEntry
from tdxray.model.catalogue import SEVERITIES

# Most severe first; used to order groups and annotations.
SEVERITY_ORDER = SEVERITIES
MAX_ANNOTATIONS = 10


@dataclass(frozen=True)
class RenderOptions:
    fail_on: str = "error"
    color: bool = False  # text only: ANSI colour
    step_summary: Path | None = None  # github only: the $GITHUB_STEP_SUMMARY file
    stale: tuple[BaselineEntry, ...] = ()  # baseline entries that matched nothing
    status: int | None = None  # the run's exit status when it is not the verdict's
    include_info: bool = False  # sarif: info findings as notes too
    uri_base: str | None = None  # sarif: paths relative to this directory (originalUriBaseIds)
    unreadable: tuple[str, ...] = ()  # the inputs a fleet check could not use, a line each
