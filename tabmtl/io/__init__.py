"""Fitting and predicting from parquet streams, and exporting for serving.

- :func:`fit_parquet` / :func:`predict_parquet`: out-of-core training and prediction on
  parquet files, folders or globs (also under ``torchrun``);
- :func:`export_onnx` / :func:`export_torch`: the network with decoded, named outputs and
  its preprocessing recipe, and :func:`read_metadata` to read that recipe back.

Saving and loading a fitted model are :func:`tabmtl.save_model` and
:func:`tabmtl.load_model`. The names are imported on first use.
"""

from tabmtl._lazy import lazy_exports

#: The public names (imported on first use), and the module that defines each.
_EXPORTS = {
    "fit_parquet": "tabmtl.io._streaming",
    "predict_parquet": "tabmtl.io._streaming",
    "export_onnx": "tabmtl.io._export",
    "export_torch": "tabmtl.io._export",
    "read_metadata": "tabmtl.io._export",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
