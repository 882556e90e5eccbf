"""The one exception type the workflow reports as a clean, one-line error."""


class StudyError(Exception):
    """A problem the user can fix (bad input, bad config, no network...).

    Scripts print ``str(error)`` as a single line and exit non-zero instead of a traceback.
    The message should say what went wrong *and* what to do about it.
    """
