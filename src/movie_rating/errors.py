"""The error type for problems a user can fix: the message is shown as is, with no traceback."""


class MovieRatingError(Exception):
    """An expected failure (bad input file, bad params, unknown name) explained in one sentence."""


def reason(error: BaseException) -> str:
    """A library's error in its own words, for the end of such a sentence: an OS error's
    description without the path (the sentence names the file), else the first line of the
    message, else the error's type."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__
