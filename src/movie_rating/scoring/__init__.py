"""Scoring files of movies: read in chunks, validated, rated, written whole or not at all."""
