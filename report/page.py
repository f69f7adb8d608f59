"""The whole page: a summary over the traces, then one section per trace. Self-contained:
styles inline, plots as inline SVG, a Content-Security-Policy that forbids any fetch."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from tdxray import __version__
from tdxray.model.catalogue import SEVERITIES
from tdxray.report import sections
from tdxray.report.data import TraceData, gather
from tdxray.store.layout import TraceRef

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
FAILING = ("fatal", "error")
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;
vertical-align:top;text-align:left}th{background:#f3f3f3}pre{background:#f8f8f8;padding:.5em;
overflow-x:auto}.sev{font-weight:bold}.fatal{color:#a00}.error{color:#d62728}
.warning{color:#b8860b}.info{color:#666}.verdict{font-size:1.3em;font-weight:bold}
.fail{color:#d62728}.pass{color:#2a7}section{border-top:2px solid #ddd;margin-top:2em}
"""


def _counts(traces: Sequence[TraceData]) -> dict[str, int]:
    return {sev: sum(1 for t in traces for d in t.result.divergences if d.severity == sev)
            for sev in SEVERITIES}


def verdict(traces: Sequence[TraceData]) -> str:
    counts = _counts(traces)
    return "fail" if any(counts[s] for s in FAILING) else "pass"


def _summary(traces: Sequence[TraceData]) -> str:
    counts = _counts(traces)
    said = verdict(traces)
    cells = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES)
    rows = "".join(
        f"<tr><td><a href=\"#t{i}\">{escape(t.result.trace_id)}</a></td>"
        f"<td>{escape(t.source)}</td><td>{t.result.events}</td><td>{t.result.generations}</td>"
        f"<td>{verdict([t])}</td></tr>" for i, t in enumerate(traces))
    return (f'<p class="verdict {said}" id="verdict">{said.upper()}</p><p>{cells} '
            "(fail: a fatal or error divergence)</p><table><thead><tr><th>trace</th>"
            "<th>source</th><th>events</th><th>generations</th><th>verdict</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _trace(i: int, t: TraceData) -> str:
    parts = [
        f'<section id="t{i}"><h2>{escape(t.result.trace_id)}</h2>',
        "<h3>Divergences</h3>", sections.divergence_table(t), sections.around(t),
        "<h3>Phases</h3>", sections.phases(t),
        "<h3>Memory map at each jump</h3>", sections.memory(t),
        "<h3>Shared pages over time</h3>", sections.shared(t),
        "<h3>Conversion latency</h3>", sections.latency(t),
        "<h3>Mailbox and CPU timelines</h3>", sections.timelines(t),
        "<h3>Coverage</h3>", sections.coverage(t), "</section>",
    ]
    return "".join(parts)


def render_page(traces: Sequence[TraceData]) -> str:
    body = _summary(traces) + "".join(_trace(i, t) for i, t in enumerate(traces))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f"<title>tdxray report</title><style>{STYLE}</style></head><body>"
            f"<h1>tdxray report</h1><p>tdxray {escape(__version__)}</p>{body}</body></html>\n")


def report_html(refs: Sequence[TraceRef]) -> str:
    return render_page([gather(ref) for ref in refs])
