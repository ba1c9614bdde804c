"""Colours, plot width, section orders and the page's CSS."""
from __future__ import annotations


SPLIT_ORDER = ("train", "val", "test")
PROVENANCE_ORDER = ("real", "synthetic", "mix")

# Colours are attributes on the SVG shapes (not CSS) so they survive printing and
# copying a plot out of the page. Chosen to stay apart in greyscale too.
KEPT, REJECTED = "#3b6ea8", "#e08a3c"
SPLIT_COLOURS = {"train": "#3b6ea8", "val": "#e08a3c", "test": "#4a9c5d"}
PROVENANCE_COLOURS = {"real": "#3b6ea8", "synthetic": "#b5589b", "mix": "#d8b23a"}
OTHER = "#8a8f98"
REASON_COLOUR, ENTITY_COLOUR, CLUSTER_COLOUR, PPL_COLOUR = "#c0603a", "#6d5fa8", "#4a9c5d", "#5a7fa8"
THRESHOLD_COLOUR = "#c0392b"
INK, GRID, MUTED = "#2b2f36", "#e3e6ea", "#6b7280"

WIDTH = 760  # every plot's viewBox width; CSS scales it down on narrow screens


_CSS = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 960px; padding: 24px 28px 48px; color: #2b2f36; background: #fff;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 26px; margin: 0 0 8px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e3e6ea; }
header { margin-bottom: 12px; }
nav { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 12px 0 20px; font-size: 13px; }
nav a { color: #3b6ea8; text-decoration: none; }
nav a:hover { text-decoration: underline; }
section { margin: 0 0 32px; }
figure { margin: 0 0 10px; }
figure svg { display: block; max-width: 100%; height: auto; }
figcaption, .caption { color: #6b7280; font-size: 12.5px; margin: 4px 0 8px; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; min-width: 50%; }
th, td { padding: 3px 10px; border-bottom: 1px solid #e3e6ea; text-align: left; vertical-align: top; }
thead th { border-bottom: 2px solid #c9ced6; font-weight: 600; }
tfoot td { border-top: 2px solid #c9ced6; border-bottom: none; font-weight: 600; }
.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.summary th { font-weight: 600; color: #4b5260; white-space: nowrap; }
table.summary td { overflow-wrap: anywhere; }
code { font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
code.hash { font-size: 11.5px; color: #4b5260; word-break: break-all; }
tr.bad td { background: #fdf0ee; }
.headline { margin: 4px 0 12px; }
.chip, .badge { display: inline-block; padding: 2px 9px; border-radius: 10px; font-size: 12.5px; margin-right: 6px;
  border: 1px solid transparent; }
.chip { background: #eef2f7; border-color: #d5dce6; }
.badge { font-weight: 600; letter-spacing: .02em; }
.badge.pass { background: #e6f4ea; color: #1e6b34; border-color: #a9d8b6; }
.badge.fail { background: #fbe7e4; color: #9b2418; border-color: #eaa89f; }
.badge.info { background: #eef0f3; color: #4b5260; border-color: #cfd4db; }
.empty { color: #6b7280; font-style: italic; }
.warn { color: #9b2418; }
.banner { border: 2px solid #9b2418; background: #fdf1ef; color: #9b2418; padding: 6px 12px; margin: 8px 0; }
footer { margin-top: 36px; color: #6b7280; font-size: 12px; border-top: 1px solid #e3e6ea; padding-top: 8px; }
@media (max-width: 640px) {  /* phones: wide tables and charts scroll sideways instead of clipping */
  body { padding: 16px 12px 32px; }
  table { display: block; max-width: 100%; overflow-x: auto; }
  th, td { padding: 3px 6px; }
  figure { overflow-x: auto; }
  figure svg { min-width: 600px; }
}
@page { margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav { display: none; }
  section, figure, table { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""
