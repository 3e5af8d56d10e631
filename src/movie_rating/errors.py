"""The error type for problems a user can fix: the message is shown as is, with no traceback."""


class MovieRatingError(Exception):
    """An expected failure (bad input file, bad params, unknown name) explained in one sentence."""
