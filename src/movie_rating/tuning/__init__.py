"""Hyper-parameter tuning of the best model families: random, grid and Optuna search."""
