"""Serving: the production predictor, its command line and the HTTP API around it."""
