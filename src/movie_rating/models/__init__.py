"""Model families: a registry from family name to estimator."""
