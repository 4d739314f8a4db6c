"""Saving, loading, exporting and streaming from parquet."""
