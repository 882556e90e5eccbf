"""Noise-augmentation study on CIFAR-10: the importable logic behind the Snakemake workflow.

Every rule's script is a thin wrapper around a function of this package, so that the
logic can be unit-tested without Snakemake.
"""

__version__ = "0.1.0"
