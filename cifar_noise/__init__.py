"""Noise-augmentation study on CIFAR-10: the importable logic behind the Snakemake workflow.

Every rule's script is a thin wrapper around a function of this package, so that the
logic can be unit-tested without Snakemake.
"""

__version__ = "0.1.0"


class StudyError(Exception):
    """A problem the user can fix (bad input, bad config, no network...): the one exception the
    workflow reports as a clean, one-line error.

    Scripts print ``str(error)`` as a single line and exit non-zero instead of a traceback.
    The message should say what went wrong *and* what to do about it.
    """
