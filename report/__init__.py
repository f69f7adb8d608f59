"""`tdxray report TRACE… -o report.html`: one self-contained HTML file a person can share.

Headless (no Textual): data (data.py) → plots (charts.py, Vega-Lite through altair, rendered to
inline SVG by vl-convert) → the page (page.py). No network: nothing is fetched, no script runs.
"""
