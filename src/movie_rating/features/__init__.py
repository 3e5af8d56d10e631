"""Feature engineering: scikit-learn transformers and the registry of feature pipelines."""
