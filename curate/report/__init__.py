"""The data card: ``report.html``, one self-contained page a person reads in a browser.

The report receives only numbers and names (:class:`ReportData`), never record
text, so it cannot leak a record. Plots are inline SVG written here: no scripts,
no external links, no plotting dependency, and a small file. The page is a pure
function of its input (no clock, no random ids, every mapping drawn in a fixed
order), so the same run renders byte-identical reports.

Modules: ``data`` (ReportData), ``page`` (the document), ``sections_*`` (one function per section),
``selection`` (the selection section), ``svg`` (plots), ``format`` (HTML helpers), ``style`` (colours, CSS),
``build`` (a finished run's numbers -> ReportData).
"""
from curate.report.data import ReportData, funnel_from_reports
from curate.report.page import render_report, write_report

__all__ = ["ReportData", "funnel_from_reports", "render_report", "write_report"]
