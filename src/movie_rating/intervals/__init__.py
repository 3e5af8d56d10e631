"""Prediction intervals: conformal calibration of the exported model, and their scores."""
