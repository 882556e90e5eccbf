"""The study's trials and splits, and the parameters of every job, as the rules query them.

A :class:`Study` is built once per snakemake run from the validated config
(cifar_noise.schema.validate_config). It reads and writes no files and knows no paths: the rules
own the path scheme, and ask the study which trials, splits, shards, noise conditions, sweeps and
corruptions there are, and what determines each job's numbers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from . import StudyError
from .design import (
    DEFINITION_FIELDS,
    SPLIT_FIELDS,
    expand_experiments,
    noise_conditions,
    numbers_only,
    resolve_corruptions,
)
from .params import TrialParams
from .schema import check_folder_names
from .shards import shard_count

# Codes that keep the seeds of different purposes apart.
_SEED_PURPOSE = {"split": 1, "noise": 2, "train": 3}

# The most shard files (one job each) a study may have: the default study has 335.
MAX_SHARD_JOBS = 5000


def derive_seed(base: int, purpose: str, trial: int) -> int:
    """A 32-bit seed for ``purpose`` in ``trial``, derived from the study's base seed.

    Trial t of every experiment shares its split and initialisation seeds (paired design: the
    conditions are compared on the same data and the same starting weights).
    """
    state = np.random.SeedSequence([base, _SEED_PURPOSE[purpose], trial]).generate_state(1)
    return int(state[0])


def _some(names, shown: int = 8) -> str:
    """The first names of a list, for a message: "a, b, c and 12 more"."""
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


@dataclass(frozen=True)
class Trial:
    experiment: str
    trial: int

    @property
    def wildcards(self) -> dict[str, str]:
        """The trial as the rules' patterns spell it (trial-01): read back by :meth:`Study.wildcards`."""
        return {"experiment": self.experiment, "trial": f"{self.trial:02d}"}


@dataclass(frozen=True)
class Wildcards:
    """A job's wildcards as the study knows them: numbers as numbers, every name one it has."""

    experiment: str | None = None
    trial: int | None = None
    shard: int | None = None
    split: str | None = None
    corruption: str | None = None
    condition: str | None = None
    sweep: str | None = None


# Trial parameters that come from the config's global sections rather than from an experiment,
# and where: trial_params reads them from there, and a changed one is named by that key.
GLOBAL_SETTINGS = {
    "seed": "seed",
    "shard_size": "shards.size",
    "evaluate_every_epoch": "training.evaluate_every_epoch",
}


def config_value(config: dict, key: str):
    """The config's value at a dotted key, e.g. ``shards.size``."""
    for part in key.split("."):
        config = config[part]
    return config


class Study:
    """A validated config plus everything derived from it: experiments, trials, splits, seeds."""

    def __init__(self, config: dict):
        self.config = config
        self.experiments, self.comparisons, self.sweeps = expand_experiments(config)
        self.corruptions = resolve_corruptions(config)
        self.conditions = noise_conditions(self.experiments)
        check_folder_names(self.experiments, self.sweeps)  # generated names too
        self._trials = [Trial(n, t) for n, exp in self.experiments.items() for t in range(1, exp["trials"] + 1)]
        # The split table, built once: trial t of experiments with the same split fields shares a split.
        self._split_of = {trial: self._split_name(trial) for trial in self._trials}
        self.splits: dict[str, dict] = {}  # by name, in the order of the first trial that uses each
        for trial, split in self._split_of.items():
            if split not in self.splits:
                self.splits[split] = self._split_params(trial)
        self._check_shard_jobs()

    # ---- what the rules' wildcards name ---------------------------------------------------
    def wildcards(self, wildcards: Mapping[str, str]) -> Wildcards:
        """A job's wildcards, converted and checked: a StudyError names an experiment, trial, shard,
        split, corruption, noise condition or sweep that the config does not have."""
        names = [field.name for field in dataclasses.fields(Wildcards)]
        given = {name: wildcards[name] for name in names if name in wildcards}
        for key in ("trial", "shard"):
            if key in given:
                if not given[key].isdigit():
                    raise StudyError(f"{key} {given[key]!r} is not a number")
                given[key] = int(given[key])
        typed = Wildcards(**given)
        if typed.experiment is not None:
            self.experiment(typed.experiment)
        if typed.trial is not None:
            self.check_trial(typed.experiment, typed.trial)
        if typed.shard is not None:
            self._check_shard(typed.experiment, typed.trial, typed.shard)
        if typed.split is not None:
            self.split_params(typed.split)
        if typed.corruption is not None:
            self.corruption(typed.corruption)
        if typed.condition is not None:
            self.noise_condition(typed.condition)
        if typed.sweep is not None:
            self.sweep(typed.sweep)
        return typed

    def experiment(self, name: str) -> dict:
        if name not in self.experiments:
            raise StudyError(f"no experiment {name!r} in the config; its experiments: {_some(self.experiments)}")
        return self.experiments[name]

    def check_trial(self, name: str, trial: int) -> None:
        """A StudyError for a trial that the config does not have (a target's experiment or number)."""
        count = self.experiment(name)["trials"]
        if not 1 <= trial <= count:
            raise StudyError(
                f"experiment {name!r} has {count} trial{'s' if count != 1 else ''} "
                f"(trial-01{f' to trial-{count:02d}' if count > 1 else ''}): there is no trial-{trial:02d}"
            )

    def _check_shard(self, name: str, trial: int, shard: int) -> None:
        count = self.shard_count(name)
        if not 0 <= shard < count:
            having = f"shard-0000 to shard-{count - 1:04d}" if count else "no shards: it has no noise"
            raise StudyError(f"trial-{trial:02d} of experiment {name!r} has {having}: there is no shard-{shard:04d}")

    def sweep(self, name: str) -> dict:
        if name not in self.sweeps:
            raise StudyError(f"no sweep {name!r} in the config; its sweeps: {_some(self.sweeps) or 'none'}")
        return self.sweeps[name]

    def noise_condition(self, slug: str) -> tuple[str, dict]:
        """The noise and parameters of a noise condition's name, e.g. gaussian-sigma20."""
        if slug not in self.conditions:
            raise StudyError(f"no noise condition {slug!r} in the config; its conditions: {_some(self.conditions)}")
        return self.conditions[slug]

    def corruption(self, name: str) -> dict:
        if name not in self.corruptions:
            corruptions = _some(self.corruptions) or "none"
            raise StudyError(f"no corruption {name!r} in the config; its corruptions: {corruptions}")
        return self.corruptions[name]

    # ---- trials and splits ----------------------------------------------------------------
    def trials(self) -> list[Trial]:
        return list(self._trials)

    def _split_name(self, trial: Trial) -> str:
        exp = self.experiments[trial.experiment]
        test = exp["test_set"] + (f"{exp['test_size']}" if exp["test_size"] else "")
        shuffle = "-unpaired" if exp["shuffle"] == "unpaired" else ""
        return f"train{exp['train_size']}-{test}{shuffle}-trial{trial.trial:02d}"

    def _split_params(self, trial: Trial) -> dict:
        exp = self.experiments[trial.experiment]
        return {
            **{key: exp[key] for key in SPLIT_FIELDS},
            "seed": derive_seed(self.config["seed"], "split", trial.trial),
        }

    def split_id(self, name: str, trial: int) -> str:
        """The split that trial ``trial`` of experiment ``name`` trains and is tested on."""
        return self._split_of[Trial(name, trial)]

    def split_ids(self) -> list[str]:
        return list(self.splits)

    def split_params(self, split: str) -> dict:
        """What determines a split (the experiments sharing it agree on it)."""
        if split not in self.splits:
            raise StudyError(f"no trial of the config uses split {split!r}; its splits: {_some(self.splits)}")
        return self.splits[split]

    def shard_wildcards(self, name: str, trial: int) -> list[dict[str, str]]:
        """The shards of a trial as the rules' patterns spell them (shard-0000)."""
        return [{**Trial(name, trial).wildcards, "shard": f"{s:04d}"} for s in range(self.shard_count(name))]

    def shard_count(self, name: str) -> int:
        exp = self.experiment(name)
        return shard_count(exp["train_size"], exp["enlarge"], self.config["shards"]["size"])

    def _check_shard_jobs(self) -> None:
        """A job per shard: Snakemake plans about 200 jobs a second, so a small shards.size under a
        large study would keep it planning for minutes before saying anything."""
        shards = sum(self.shard_count(t.experiment) for t in self._trials)
        if shards > MAX_SHARD_JOBS:
            exps = [self.experiments[t.experiment] for t in self._trials]
            images = sum(exp["train_size"] * (exp["enlarge"] - 1) for exp in exps)
            enough = -(-images // max(1, MAX_SHARD_JOBS - len(self._trials)))  # each trial's last shard may be partial
            raise StudyError(
                f"invalid config: shards.size: {self.config['shards']['size']} makes {shards:,} shard files, more than "
                f"the {MAX_SHARD_JOBS:,} a study may have; set shards.size to at least {enough:,} "
                "(or shrink the study: make plan shows its size)"
            )

    # ---- what determines each job's numbers (the rules' params) ---------------------------
    def shard_params(self, name: str, trial: int) -> dict:
        exp = self.experiments[name]
        return {
            "noise": exp["noise"],
            "noise_params": exp["noise_params"],
            "clip": exp["clip"],
            "enlarge": exp["enlarge"],
            "shard_size": self.config["shards"]["size"],
            "noise_seed": derive_seed(self.config["seed"], "noise", trial),
        }

    def trial_params(self, name: str, trial: int) -> TrialParams:
        """Every parameter that determines one trial's numbers (see cifar_noise.params)."""
        self.check_trial(name, trial)
        exp = self.experiments[name]
        seed = self.config["seed"]
        return TrialParams(
            experiment=name,
            trial=trial,
            **{key: exp[key] for key in DEFINITION_FIELDS},  # what the experiment computes
            **{key: config_value(self.config, where) for key, where in GLOBAL_SETTINGS.items()},
            split_seed=derive_seed(seed, "split", trial),
            noise_seed=derive_seed(seed, "noise", trial),
            train_seed=derive_seed(seed, "train", trial),
        )

    # ---- robustness: corrupted test sets and the evaluation of every trial on them ----------
    def corruption_params(self, split: str, name: str) -> dict:
        """What determines one corrupted test set: its split's seed, the subset size, the corruption."""
        return {
            "split_seed": self.split_params(split)["seed"],
            "test_size": self.config["corruptions"]["test_size"],
            "corruption": numbers_only(self.corruption(name)),
        }

    def evaluation_params(self, name: str, trial: int) -> dict:
        """What determines a trial's numbers on the corrupted sets (besides its trained model)."""
        return {
            "experiment": name,
            "trial": trial,
            "scale_inputs": self.experiments[name]["scale_inputs"],
            "split_seed": derive_seed(self.config["seed"], "split", trial),
            "test_size": self.config["corruptions"]["test_size"],
            "corruptions": {name: numbers_only(c) for name, c in self.corruptions.items()},
        }

    def robustness_experiments(self) -> list[str]:
        """The experiments drawn in the robustness figures: declared conditions and their
        baselines; sweep points (their own figures) and unpaired-label runs (chance) left out."""
        in_sweeps = {n for sweep in self.sweeps.values() for n in sweep["experiments"] + sweep["baselines"] if n}
        compared = {n for c in self.comparisons for n in (c["experiment"], c["baseline"])}
        return [
            n
            for n, exp in self.experiments.items()
            if exp["shuffle"] == "paired"
            and (n in self.config["experiments"] or (n in compared and n not in in_sweeps))
        ]
