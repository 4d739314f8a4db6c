"""Metrics, cross-validated transfer analysis, task grouping and the report."""
