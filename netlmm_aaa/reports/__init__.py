"""Operator reports over the audit store (``netlmm-aaa report ...``): queries, text/CSV/JSON
output, and a self-contained HTML report with charts."""
