"""The base of this package's transformers: scikit-learn's contract at a per-call cost of
nanoseconds, so one movie through a dozen steps costs microseconds, not milliseconds.

Two pieces of `TransformerMixin` cost more per call than a whole step's work on one movie:
`transform` is wrapped for `set_output` (~8 us a call: these steps return column batches and
matrices, which `set_output` does not convert), and `check_is_fitted` reads the estimator's
tags (~10 us). `FeatureTransformer` opts out of the wrapping and checks fittedness by the one
learned attribute that `fit` sets last, raising the same `NotFittedError`.
"""

from typing import Any

from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError


class FeatureTransformer(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """A transformer of this package. Subclasses name the attribute `fit` sets (last) in
    `_fitted_attribute`; stateless ones set it to None."""

    _fitted_attribute: str | None = "n_features_in_"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(auto_wrap_output_keys=None, **kwargs)  # type: ignore[call-arg]

    def __sklearn_is_fitted__(self) -> bool:
        return self._fitted_attribute is None or hasattr(self, self._fitted_attribute)

    def _check_fitted(self) -> None:
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(
                f"This {type(self).__name__} instance is not fitted yet. Call 'fit' with "
                "appropriate arguments before using this estimator."
            )


def check_fitted(estimator: Any, attribute: str) -> None:
    """`check_is_fitted(estimator, attribute)` without the tags lookup."""
    if not hasattr(estimator, attribute):
        raise NotFittedError(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )
