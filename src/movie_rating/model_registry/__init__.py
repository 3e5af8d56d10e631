"""Optional MLflow model registry for the exported pipeline: publish it, serve from it.

Named `model_registry` because `movie_rating.registry` is the lookup helper for the name-keyed
registries (feature pipelines, model families). The default path never touches MLflow: the
service reads `models/` unless MOVIE_RATING_MODEL_SOURCE=mlflow, and nothing is published
unless `python -m movie_rating.model_registry register` runs with MLFLOW_TRACKING_URI set.
"""
