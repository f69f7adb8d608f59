"""Report formats of `tdxray check`: each renders a list of CheckedTrace to a string."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tdxray.analyses.choices import WANT_LINES
from tdxray.analyses.formats import github, json_, junit, markdown, sarif, text
from tdxray.analyses.formats.base import RenderOptions
from tdxray.analyses.report import CheckedTrace

__all__ = ["FORMATS", "WANT_LINES", "Renderer", "render"]

Renderer = Callable[[Sequence[CheckedTrace], RenderOptions], str]

FORMATS: dict[str, Renderer] = {
    "text": text.render,
    "json": json_.render_json,
    "jsonl": json_.render_jsonl,
    "junit": junit.render,
    "xunit": junit.render_xunit,
    "sarif": sarif.render,
    "github": github.render,
    "markdown": markdown.render,
}


def render(name: str, traces: Sequence[CheckedTrace], opts: RenderOptions) -> str:
    return FORMATS[name](traces, opts)
