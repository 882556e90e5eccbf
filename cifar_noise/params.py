"""The parameters of one trial: every value that determines its numbers, and nothing else.

:meth:`cifar_noise.study.Study.trial_params` makes one from the config; ``run_trial`` trains with
it; the benchmarks build theirs the same way. Snakemake reruns a trial when its parameters change,
so no folder, description or evaluation batch size belongs here: moving a checkout or rewording
a description must not retrain anything. The rule passes :meth:`TrialParams.asdict` (plain data)
and the script rebuilds the record; ``metrics.json`` records it as a JSON object.

The field order is the order of that JSON object (and of the params Snakemake compares between
runs): add new fields at the end. Defaults are the config schema's (tests/unit/test_config.py checks).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class TrialParams:
    experiment: str
    trial: int  # 1, 2, ...: trial t of every experiment shares its split and initial weights
    train_size: int  # training images drawn from the 50,000
    test_set: str = "rest"  # rest: the unused training images + the official test set; official
    test_size: int | None = None  # a seeded subset of the test set (None: all of it)
    architecture: str  # a key of cifar_noise.models.ARCHITECTURES
    noise: str  # "none" or a key of cifar_noise.noise.NOISES
    noise_params: dict = field(default_factory=dict)  # fully resolved (defaults filled in)
    enlarge: int = 1  # the training set is enlarged to this many times its size with noisy copies
    epochs: int
    shuffle: str = "paired"  # unpaired: images and labels shuffled apart (the notebook's bug)
    batch_size: int
    scale_inputs: bool = True  # divide pixels by 255
    clip: bool = True  # noisy values rounded and clipped to 0..255
    evaluate_every_epoch: bool = False
    precision: str = "float32"  # or bfloat16
    shard_size: int = 10_000  # images per noise shard file (the order of the enlarged set)
    seed: int  # the study's base seed; the three below are derived from it and the trial
    split_seed: int
    noise_seed: int
    train_seed: int

    def asdict(self) -> dict:
        return dataclasses.asdict(self)
