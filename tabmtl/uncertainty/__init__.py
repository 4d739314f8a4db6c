"""Intervals and calibrated probabilities.

- :mod:`~tabmtl.uncertainty.calibration`: reliability curves and the expected
  calibration error of predicted probabilities;
- :mod:`~tabmtl.uncertainty.conformal`: split-conformal quantiles and interval coverage;
- :mod:`~tabmtl.uncertainty.temperature`: temperature scaling of a head's logits;
- :mod:`~tabmtl.uncertainty.calibrator`: :class:`Calibrator`, a model's fitted
  calibration (both of the above) applied to its raw outputs.
"""
