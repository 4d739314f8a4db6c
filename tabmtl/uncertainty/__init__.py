"""Intervals and calibrated probabilities."""
