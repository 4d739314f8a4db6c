"""Intervals and calibrated probabilities.

- :mod:`~tabmtl._uncertainty.calibration`: reliability curves and the expected
  calibration error of predicted probabilities;
- :mod:`~tabmtl._uncertainty.conformal`: split-conformal quantiles and interval coverage;
- :mod:`~tabmtl._uncertainty.temperature`: temperature scaling of a head's logits;
- :mod:`~tabmtl._uncertainty.calibrator`: :class:`Calibrator`, a model's fitted
  calibration (both of the above) applied to its raw outputs.
"""
