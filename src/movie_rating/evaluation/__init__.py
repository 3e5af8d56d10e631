"""Scoring, the model comparison table, winner selection and plot data."""
