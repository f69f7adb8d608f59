"""The report's plots: Vega-Lite specs built with altair, rendered to SVG by vl-convert (inline
in the page, no script, no network). Data are aggregates: a few hundred marks at most."""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import numpy as np
import vl_convert as vlc

from tdxray.analyses.diff.timeline import Mark, Timeline
from tdxray.report.data import JumpMap

WIDTH = 720
MAX_TIMELINE_MARKS = 1500
STATE_COLORS = {"shared": "#d62728", "pending": "#ff7f0e", "unaccepted": "#9467bd"}


def svg(chart: alt.TopLevelMixin) -> str:
    return str(vlc.vegalite_to_svg(chart.to_dict()))


def shared_pages(points: Sequence[tuple[int, int]], jumps: Sequence[int]) -> alt.LayerChart:
    line = alt.Chart(alt.Data(values=[{"seq": s, "pages": p} for s, p in points])).mark_line(
        interpolate="step-after").encode(
        x=alt.X("seq:Q", title="event seq"), y=alt.Y("pages:Q", title="shared 4 KiB pages"))
    rules = alt.Chart(alt.Data(values=[{"seq": s} for s in jumps] or [{"seq": None}])).mark_rule(
        color="#d62728", strokeDash=[4, 3]).encode(x="seq:Q")
    return alt.layer(line, rules).properties(width=WIDTH, height=180,
                                             title="Shared pages over time (dashed: jumps)")


def memory_map(maps: Sequence[JumpMap], ram: Sequence[tuple[int, int]]) -> alt.LayerChart:
    rows = [{"jump": f"gen {m.generation} → {m.generation + 1}", "state": state,
             "start": s / 2**20, "end": e / 2**20}
            for m in maps for state, ranges in m.ranges.items() for s, e in ranges]
    lanes = [f"gen {m.generation} → {m.generation + 1}" for m in maps]
    ram_rows = [{"jump": lane, "start": s / 2**20, "end": e / 2**20}
                for lane in lanes for s, e in ram]
    scale = alt.Scale(domain=list(STATE_COLORS), range=list(STATE_COLORS.values()))
    x = alt.X("start:Q", title="GPA (MiB)")
    base = alt.Chart(alt.Data(values=ram_rows)).mark_bar(color="#e8e8e8").encode(
        x=x, x2="end:Q", y=alt.Y("jump:N", title=None))
    marks = alt.Chart(alt.Data(values=rows or [{"jump": lanes[0] if lanes else "", "state":
                                                "shared", "start": 0, "end": 0}])).mark_bar(
        strokeWidth=2).encode(x=x, x2="end:Q", y="jump:N",
                              color=alt.Color("state:N", scale=scale),
                              stroke=alt.Stroke("state:N", scale=scale, legend=None))
    return alt.layer(base, marks).properties(width=WIDTH, height=40 + 30 * len(lanes),
                                             title="Memory at each jump (grey: private RAM)")


def latency(tl: Timeline) -> alt.Chart:
    """MapGPA operation latency, first call to final answer: a histogram on a log scale."""
    ns = np.frombuffer(tl.op_ns, dtype=np.int64) if len(tl.op_ns) else np.zeros(0, np.int64)
    shared = np.frombuffer(tl.op_to_shared, dtype=np.int8).astype(bool)
    edges = np.logspace(2, 10, 33)  # 100 ns to 10 s
    rows = []
    for label, pick in (("to shared", shared), ("to private", ~shared)):
        counts, _ = np.histogram(np.clip(ns[pick], 100, 1e10), edges)
        rows += [{"direction": label, "lo": float(lo / 1000), "hi": float(hi / 1000),
                  "ops": int(c)} for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
                 if c]
    return alt.Chart(alt.Data(values=rows or [{"direction": "to shared", "lo": 0.1, "hi": 0.1,
                                               "ops": 0}])).mark_bar().encode(
        x=alt.X("lo:Q", scale=alt.Scale(type="log"), title="µs (first call to final answer)"),
        x2="hi:Q", y=alt.Y("ops:Q", title="MapGPA operations", stack=None), y2=alt.datum(0),
        color="direction:N", opacity=alt.value(0.7)).properties(
        width=WIDTH, height=160, title="Conversion latency")


def vcpu_timelines(marks: Sequence[Mark]) -> alt.Chart:
    rows = [{"seq": m.seq, "vcpu": f"vCPU {m.vcpu}", "lane": m.lane, "what": m.label}
            for m in marks[:MAX_TIMELINE_MARKS]]
    lanes = sorted({r["vcpu"] for r in rows})
    return alt.Chart(alt.Data(values=rows or [{"seq": 0, "vcpu": "", "lane": "cpu",
                                               "what": ""}])).mark_point(filled=True).encode(
        x=alt.X("seq:Q", title="event seq"), y=alt.Y("vcpu:N", title=None),
        color=alt.Color("lane:N", title="event"), shape="lane:N").properties(
        width=WIDTH, height=30 + 25 * max(1, len(lanes)),
        title="Mailbox and CPU events per vCPU")
