"""Config validation, defaults, seeds and the path scheme of the study.

The Snakefile builds one :class:`Study` from the config; everything the rules need (which trials
exist, their parameters, where their files go) comes from it, so the rules themselves hold no
logic.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .corruptions import DEFAULT_CORRUPTIONS, severity_params
from .download import verify_local_archive
from .errors import StudyError
from .fileio import file_digest
from .noise import NOISES, condition_label, condition_slug, default_params, noise_types
from .shards import shard_count

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"
RESULTS = "results"
# Per-epoch checkpoints of running trials, outside every rule's outputs.
CHECKPOINTS = f"{RESULTS}/checkpoints"

# Which noise parameters mean something for which noise type.
NOISE_PARAM_KEYS = {name: set(default_params(name)) for name in noise_types()}

# Codes that keep the seeds of different purposes apart.
_SEED_PURPOSE = {"split": 1, "noise": 2, "train": 3}


def derive_seed(base: int, purpose: str, trial: int) -> int:
    """A 32-bit seed for ``purpose`` in ``trial``, derived from the study's base seed.

    Trial t of every experiment shares its split and initialisation seeds (paired design: the
    conditions are compared on the same data and the same starting weights).
    """
    state = np.random.SeedSequence([base, _SEED_PURPOSE[purpose], trial]).generate_state(1)
    return int(state[0])


def _path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


# Keys that older configs had, and where their setting lives now (runtime settings are profiles').
MOVED_KEYS = {
    "training.gpus": "GPUs are no longer set in the config: train on GPUs with "
    "`snakemake --workflow-profile profiles/gpu` (or profiles/slurm on a cluster); see README.md",
    "training.threads": "threads are no longer set in the config: use the profile's set-threads "
    "(train_trial: N) or `--set-threads train_trial=N`",
    "shards.threads": "threads are no longer set in the config: use the profile's set-threads "
    "(make_shard: N) or `--set-threads make_shard=N`",
    "training.eval_batch_size": "no longer a setting: evaluation runs in batches of 1,000 images "
    "(it changes memory use, never results); remove the key",
}


def _describe(error) -> str:
    where = _path(error)
    if error.validator == "additionalProperties":
        for key, advice in MOVED_KEYS.items():
            parent, name = key.rsplit(".", 1)
            if where == parent and isinstance(error.instance, dict) and name in error.instance:
                return f"{key}: {advice}"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (check the spelling; allowed keys are in {SCHEMA_PATH.name})"
    if "propertyNames" in error.relative_schema_path:
        return (
            f"{where}: experiment name {error.instance!r} is not allowed: names become folder "
            "names, so use letters, digits, '_', '.' and '-' only (no spaces or slashes)"
        )
    return f"{where}: {error.message}"


def _fill_defaults(instance, schema, root):
    """Fill in schema defaults, recursing into objects (also additionalProperties and $refs)."""
    if "$ref" in schema:  # only local "#/$defs/<name>" references are used
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(instance, dict) or schema.get("type") not in (None, "object"):
        return
    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if key in instance:
            _fill_defaults(instance[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key, value in instance.items():
            if key not in schema.get("properties", {}):
                _fill_defaults(value, extra, root)


def complete_schema(schema: dict) -> dict:
    """Fill the schema's noise and architecture parts in from the registries (cifar_noise.noise.NOISES,
    cifar_noise.models.ARCHITECTURES), so that a noise or an architecture is declared in one place."""
    from .models import ARCHITECTURES

    schema["properties"]["noise"]["properties"] = {
        name: {
            "type": "object",
            "additionalProperties": False,
            "default": {},
            "description": noise.description,
            "properties": copy.deepcopy(noise.params),
        }
        for name, noise in NOISES.items()
    }
    overrides: dict[str, dict] = {}  # an experiment's noise_params: any noise's parameters, no defaults
    for noise in NOISES.values():
        for key, spec in noise.params.items():
            spec = {k: v for k, v in spec.items() if k not in ("default", "description")}
            if overrides.setdefault(key, spec) != spec:
                raise ValueError(f"noise parameter {key!r} is declared with two different schemas")
    experiment = schema["$defs"]["experiment"]["properties"]
    experiment["noise"] = {"enum": list(noise_types())}
    experiment["architecture"] = {"enum": list(ARCHITECTURES)}
    experiment["noise_params"]["properties"] = overrides
    corruption = schema["$defs"]["corruption"]["properties"]
    corruption["noise"] = {"enum": list(NOISES)}
    corruption["params"]["properties"] = copy.deepcopy(overrides)
    schema["properties"]["corruptions"]["properties"]["sets"]["default"] = copy.deepcopy(DEFAULT_CORRUPTIONS)
    vary = schema["properties"]["sweeps"]["additionalProperties"]["properties"]["vary"]
    vary["enum"] = [*overrides, *vary["enum"]]
    return schema


def load_schema(schema_path: Path = SCHEMA_PATH) -> dict:
    return complete_schema(yaml.safe_load(Path(schema_path).read_text()))


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Return a validated copy of ``config`` with defaults filled in; StudyError names the bad key.

    Not ``snakemake.utils.validate(config, schema, set_default=True)``: it stops at the first error
    with jsonschema's own text, which names neither the dotted key nor the fix, and it fills no
    defaults under ``additionalProperties`` (each experiment's and sweep's defaults).
    """
    import jsonschema

    _check_size(config)
    schema = load_schema(schema_path)
    config = copy.deepcopy(config) if config is not None else {}
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), _path(e)))
    if errors:
        lines = [_describe(e) for e in errors[:10]]
        raise StudyError("invalid config: " + "; ".join(lines))
    _fill_defaults(config, schema, schema)
    _resolve_inputs_scaling(config)
    _check_semantics(config)
    return config


# A study config is a few kilobytes. Anything near a megabyte is a
# wrong file or a generator gone wrong, and would only be validated and expanded for minutes.
MAX_CONFIG_BYTES = 1_000_000


def _check_size(config) -> None:
    size = len(json.dumps(config, default=str))
    if size > MAX_CONFIG_BYTES:
        raise StudyError(
            f"invalid config: it is {size / 1e6:.1f} MB, more than the {MAX_CONFIG_BYTES / 1e6:g} MB a study "
            "config may be (a study is a few kilobytes); check that --configfile names the right file"
        )


def _check_folder_names(experiments: dict, sweeps: dict) -> None:
    """Names become folder and file names: two that differ only in case are one folder on a
    case-insensitive filesystem (macOS, Windows), where their trials would overwrite each other."""
    problems = []
    for kind, names in (("experiments", experiments), ("sweeps", sweeps)):
        first: dict[str, str] = {}
        for name in names:
            other = first.setdefault(name.casefold(), name)
            if other != name:
                problems.append(
                    f"{kind}.{name}: differs from {other!r} only in case, and the two would share one "
                    "folder on a case-insensitive filesystem (macOS, Windows); rename one of them"
                )
    if problems:
        raise StudyError("invalid config: " + "; ".join(problems))


def noise_params(config: dict, exp: dict) -> dict:
    """The full noise parameters of an experiment: built-in defaults < config noise < overrides."""
    if exp["noise"] == "none":
        return {}
    return {**default_params(exp["noise"]), **config["noise"][exp["noise"]], **exp["noise_params"]}


# CIFAR-10's training and test images.
CIFAR10_SIZES = (50000, 10000)


def test_pool(exp: dict, sizes: tuple[int, int] = CIFAR10_SIZES) -> int:
    """The test images an experiment's test_set holds: the training images it does not train on
    plus the official test images ("rest"), or the official ones alone (``sizes``: the dataset's
    training and test images)."""
    train, test = sizes
    return (train - exp["train_size"] + test) if exp["test_set"] == "rest" else test


def test_count(exp: dict, sizes: tuple[int, int] = CIFAR10_SIZES) -> int:
    """The test images of an experiment's splits (its test_size, where set)."""
    return exp["test_size"] or test_pool(exp, sizes)


def _check_experiment(where: str, exp: dict, config: dict) -> list[str]:
    problems = []
    unknown = set(exp["noise_params"]) - NOISE_PARAM_KEYS[exp["noise"]]
    if unknown:
        allowed = ", ".join(sorted(NOISE_PARAM_KEYS[exp["noise"]])) or "none"
        problems.append(
            f"{where}.noise_params: {', '.join(sorted(unknown))} do not apply to noise "
            f"{exp['noise']!r} (allowed: {allowed})"
        )
    if exp["noise"] == "none" and exp["enlarge"] != 1:
        problems.append(
            f"{where}.enlarge: is {exp['enlarge']} but noise is 'none'; exact copies add "
            "nothing but epochs: set enlarge to 1 and raise epochs instead"
        )
    if exp["noise"] == "none" and not exp["clip"]:
        problems.append(f"{where}.clip: false keeps unclipped noisy values, but noise is 'none'; remove clip")
    if exp["noise"] != "none" and exp["enlarge"] < 2:
        problems.append(
            f"{where}.enlarge: noise {exp['noise']!r} needs enlarge >= 2 (1 trains on the "
            "originals only); set enlarge, or noise: none"
        )
    if exp["test_set"] == "rest" and exp["train_size"] >= 50000:
        problems.append(
            f"{where}.test_set: 'rest' with train_size {exp['train_size']} leaves no "
            "training images to test on; use test_set: official"
        )
    available = test_pool(exp)
    if exp["test_size"] and exp["test_size"] > available:
        problems.append(
            f"{where}.test_size: {exp['test_size']} is more than the {available} images of "
            f"test_set {exp['test_set']!r} with train_size {exp['train_size']}"
        )
    patch_size = None if unknown or exp["noise"] != "regional" else noise_params(config, exp)["patch_size"]
    if patch_size is not None and patch_size % 2 == 0:
        problems.append(f"{where}: regional patch_size must be odd (a square with a centre pixel), not {patch_size}")
    return problems


# The most shard files (one job each) a study may have: the default study has 335.
MAX_SHARD_JOBS = 5000

# What makes trial t of two experiments use the same split (and so be a pair).
SPLIT_FIELDS = ("train_size", "test_set", "test_size", "shuffle")


def _resolve_inputs_scaling(config: dict) -> None:
    """An experiment's scale_inputs defaults to training.scale_inputs."""
    for exp in [*config["experiments"].values(), *(sweep["experiment"] for sweep in config["sweeps"].values())]:
        if exp["scale_inputs"] is None:
            exp["scale_inputs"] = config["training"]["scale_inputs"]


def _check_semantics(config: dict) -> None:
    problems = []
    experiments = config["experiments"]
    for name, exp in experiments.items():
        problems += _check_experiment(f"experiments.{name}", exp, config)
        baseline = exp["baseline"]
        if baseline is not None:
            if baseline not in experiments:
                problems.append(f"experiments.{name}.baseline: no experiment named {baseline!r}")
            elif baseline == name:
                problems.append(f"experiments.{name}.baseline: an experiment cannot be its own baseline")
            elif any(experiments[baseline][key] != exp[key] for key in SPLIT_FIELDS):
                problems.append(
                    f"experiments.{name}.baseline: {baseline!r} uses other splits (its "
                    f"{', '.join(SPLIT_FIELDS)} differ), so its trials do not pair with this one's"
                )
    for name, sweep in config["sweeps"].items():
        base = sweep["experiment"]
        where = f"sweeps.{name}"
        if name in experiments:
            problems.append(f"{where}: an experiment has the same name; rename one of them")
        if sweep["vary"] == "enlarge":
            if base["noise"] == "none":
                problems.append(f"{where}.experiment.noise: a sweep over enlarge needs a noise type")
            if any(v != int(v) or v < 1 for v in sweep["values"]):
                problems.append(f"{where}.values: enlarge takes whole numbers >= 1")
        elif sweep["vary"] == "train_size":
            if any(v != int(v) or not 1 <= v <= 50000 for v in sweep["values"]):
                problems.append(f"{where}.values: train_size takes whole numbers from 1 to 50000")
        elif sweep["vary"] not in NOISE_PARAM_KEYS[base["noise"]]:
            problems.append(f"{where}.vary: {sweep['vary']} is not a parameter of noise {base['noise']!r}")
        for value in sweep["values"]:
            point = _sweep_point(sweep, value)
            problems += _check_experiment(f"{where} ({sweep['vary']}={value:g})", point, config)
    problems += _check_corruptions(config)
    if problems:
        raise StudyError("invalid config: " + "; ".join(dict.fromkeys(problems)))


def resolve_corruptions(config: dict) -> dict[str, dict]:
    """The configured corruptions with every noise parameter filled in (the noise's built-in
    defaults, not the config's noise section: that one sets the training noise)."""
    return {name: _resolve_corruption(name, corruption) for name, corruption in config["corruptions"]["sets"].items()}


def _resolve_corruption(name: str, corruption: dict) -> dict:
    integral = NOISES[corruption["noise"]].params.get(corruption["vary"], {}).get("type") == "integer"
    return {
        "description": corruption.get("description") or name,
        "noise": corruption["noise"],
        "vary": corruption["vary"],
        "severities": [int(v) if integral else v for v in corruption["severities"]],
        "params": {
            key: value
            for key, value in {**default_params(corruption["noise"]), **corruption.get("params", {})}.items()
            if key != corruption["vary"]
        },
    }


def _numbers_only(corruption: dict) -> dict:
    """A corruption without its description (a rule's params hold only what determines numbers)."""
    return {key: value for key, value in corruption.items() if key != "description"}


def _check_corruptions(config: dict) -> list[str]:
    """Each corruption varies a parameter of its noise, and every severity is a valid setting."""
    import jsonschema

    problems = []
    for name, corruption in config["corruptions"]["sets"].items():
        where = f"corruptions.sets.{name}"
        noise = NOISES[corruption["noise"]]
        allowed = ", ".join(noise.params)
        if corruption["vary"] not in noise.params:
            problems.append(
                f"{where}.vary: {corruption['vary']!r} is not a parameter of noise {corruption['noise']!r} "
                f"(its parameters: {allowed})"
            )
            continue
        unknown = set(corruption.get("params", {})) - set(noise.params)
        if unknown:
            problems.append(
                f"{where}.params: {', '.join(sorted(unknown))} do not apply to noise "
                f"{corruption['noise']!r} (allowed: {allowed})"
            )
            continue
        spec = noise.params[corruption["vary"]]
        for value in corruption["severities"]:
            if spec["type"] == "integer" and value != int(value):
                problems.append(f"{where}.severities: {corruption['vary']} takes whole numbers, not {value:g}")
            elif not jsonschema.Draft202012Validator(
                {"type": "number", **{k: v for k, v in spec.items() if k in ("minimum", "maximum")}}
            ).is_valid(value):
                problems.append(
                    f"{where}.severities: {value:g} is outside the range of {corruption['vary']} "
                    f"({spec.get('minimum', '-inf')} to {spec.get('maximum', 'inf')})"
                )
        resolved = _resolve_corruption(name, corruption)
        if corruption["noise"] == "regional" and any(p["patch_size"] % 2 == 0 for p in severity_params(resolved)):
            problems.append(f"{where}: regional patch_size must be odd (a square with a centre pixel)")
    return problems


def _sweep_point(sweep: dict, value: float) -> dict:
    exp = copy.deepcopy(sweep["experiment"])
    vary = sweep["vary"]
    if vary == "enlarge":
        exp["enlarge"] = int(value)
        if value == 1:  # the sweep's starting point: the originals alone
            exp["noise"], exp["noise_params"] = "none", {}
    elif vary == "train_size":  # each size gets its own splits (and its own step-matched baseline)
        exp["train_size"] = int(value)
    else:
        exp["noise_params"][vary] = int(value) if vary in ("patches", "patch_size") else value
    return exp


def _sweep_title(sweep: dict, config: dict) -> str:
    """A readable title for a sweep without a description, e.g. "sigma = 0, 5, 10: gaussian, x10,
    2 epochs, 15,000 training images"."""
    exp, vary = sweep["experiment"], sweep["vary"]
    others = {key: value for key, value in noise_params(config, exp).items() if key != vary}
    parts = [condition_label(exp["noise"], others) if others else exp["noise"]]
    if vary != "enlarge":
        parts.append(f"x{exp['enlarge']}")
    parts.append(f"{exp['epochs']} epoch{'s' if exp['epochs'] != 1 else ''}")
    if vary != "train_size":
        parts.append(f"{exp['train_size']:,} training images")
    return f"{vary} = {', '.join(f'{v:g}' for v in sweep['values'])}: {', '.join(parts)}"


# What makes two experiments the same computation (their names, descriptions and trial counts
# aside): identical definitions give identical trials, so they are run once.
DEFINITION_FIELDS = (
    "train_size",
    "test_set",
    "test_size",
    "architecture",
    "noise",
    "noise_params",
    "enlarge",
    "epochs",
    "batch_size",
    "shuffle",
    "scale_inputs",
    "clip",
)


def _definition(exp: dict, config: dict) -> tuple:
    resolved = {**exp, "noise_params": tuple(sorted(noise_params(config, exp).items()))}
    return tuple(resolved[field] for field in DEFINITION_FIELDS)


def expand_experiments(config: dict) -> tuple[dict, list[dict], dict]:
    """The experiments to run (declared ones, sweep points, step-matched baselines), the
    comparisons to make, and the sweeps with the experiment of each value.

    Noise parameters come out fully resolved. A generated experiment identical to an existing one
    reuses it (with the larger trial count) instead of running the same computation twice.
    """
    experiments: dict[str, dict] = {}
    by_definition: dict[tuple, str] = {}

    def register(name: str, exp: dict, key: tuple) -> None:
        experiments[name] = {**exp, "noise_params": noise_params(config, exp)}
        by_definition.setdefault(key, name)  # of two identical declared experiments, the first is reused

    def add(name: str, exp: dict) -> str:
        key = _definition(exp, config)
        if key in by_definition:
            existing = experiments[by_definition[key]]
            existing["trials"] = max(existing["trials"], exp["trials"])
            return by_definition[key]
        while name in experiments:  # a declared experiment already has this name
            name += "_"
        register(name, exp, key)
        return name

    for name, exp in config["experiments"].items():
        register(name, exp, _definition(exp, config))

    def matched_baseline(exp: dict) -> str:
        """The no-noise experiment trained k*E epochs: as many optimizer steps as x k for E epochs."""
        epochs = exp["epochs"] * exp["enlarge"]
        baseline = {
            **exp,
            "noise": "none",
            "noise_params": {},
            "clip": True,
            "enlarge": 1,
            "epochs": epochs,
            "baseline": None,
            "description": f"No noise, {epochs} epochs (step-matched baseline)",
        }
        label = f"no_noise-{exp['train_size']}-{epochs}ep-b{exp['batch_size']}"
        if exp["architecture"] != "seed_a":
            label += f"-{exp['architecture']}"
        if exp["test_set"] != "rest" or exp["test_size"]:
            label += f"-{exp['test_set']}{exp['test_size'] or ''}"
        if exp["shuffle"] != "paired":
            label += f"-{exp['shuffle']}"
        if not exp["scale_inputs"]:
            label += "-raw"
        return add(label, baseline)

    sweeps = {}
    sweep_comparisons = []
    for name, sweep in config["sweeps"].items():
        title = sweep["description"] or _sweep_title(sweep, config)
        points = []
        for value in sweep["values"]:
            point = _sweep_point(sweep, value)
            point["description"] = f"{title}: {sweep['vary']}={value:g}"
            points.append(add(f"{name}-{sweep['vary']}{value:g}", point))
        if sweep["vary"] in ("enlarge", "train_size") or 0 not in sweep["values"]:
            # each point with noise against the no-noise baseline of as many optimizer steps
            kind = "step-matched"
            baselines = [
                None if experiments[p]["noise"] == "none" else matched_baseline(experiments[p]) for p in points
            ]
        else:  # a noise parameter swept from 0: each point against the same pipeline without noise
            kind = f"{sweep['vary']}=0"
            zero = points[sweep["values"].index(0)]
            baselines = [None if point == zero else zero for point in points]
        sweeps[name] = {
            "vary": sweep["vary"],
            "values": list(sweep["values"]),
            "experiments": points,
            "description": title,
            "baselines": baselines,  # each point's reference (None: the point is one itself)
            "baseline_kind": kind,
        }
        sweep_comparisons += [
            {"experiment": point, "baseline": baseline, "kind": kind}
            for point, baseline in zip(points, baselines, strict=True)
            if baseline
        ]

    comparisons = []
    for name, exp in config["experiments"].items():
        if exp["noise"] == "none":  # a no-noise experiment against another (raw vs scaled inputs, say)
            if exp["baseline"]:
                comparisons.append({"experiment": name, "baseline": exp["baseline"], "kind": "configured"})
            continue
        declared = exp["baseline"]
        matched = matched_baseline(exp) if config["matched_baselines"] else None
        if declared and declared == matched:
            comparisons.append({"experiment": name, "baseline": declared, "kind": "configured, step-matched"})
            continue
        if declared:
            comparisons.append({"experiment": name, "baseline": declared, "kind": "configured"})
        if matched:
            comparisons.append({"experiment": name, "baseline": matched, "kind": "step-matched"})
    # a sweep point may be a declared experiment with the same baseline: each pair is compared once
    compared = {(c["experiment"], c["baseline"]) for c in comparisons}
    comparisons += [c for c in sweep_comparisons if (c["experiment"], c["baseline"]) not in compared]
    return experiments, comparisons, sweeps


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
    def folder(self) -> str:
        return f"{RESULTS}/experiments/{self.experiment}/trial-{self.trial:02d}"


class Study:
    """A validated config plus everything derived from it: trials, seeds, paths."""

    def __init__(self, config: dict):
        self.config = validate_config(config)
        self._md5s: dict[str, str] = {}
        self.experiments, self.comparisons, self.sweeps = expand_experiments(self.config)
        self.corruptions = resolve_corruptions(self.config)
        _check_folder_names(self.experiments, self.sweeps)  # generated names too
        self._check_shard_jobs()

    # ---- data -----------------------------------------------------------------------------
    # The archive the study reads: downloaded, or copied from the user's data.archive.
    archive = f"{RESULTS}/data/cifar-10-python.tar.gz"

    def archive_md5(self) -> str | None:
        """The content of the archive the study reads, by which its archive job is known (so the same
        bytes, downloaded or copied, rerun nothing): data.archive's md5 when it is set; for a download
        pinned by data.md5, the md5 of the archive already in results/data/ (the one the results
        were made from, however it got there), or data.md5 before there is one; None for a download
        without md5, whatever data.url serves. A StudyError names an unreadable data.archive."""
        data = self.config["data"]
        if data["archive"]:
            verify_local_archive(data["archive"], None)
            return self._md5(data["archive"])
        if data["md5"] is None:
            return None
        return self.fetched_archive_md5() or data["md5"].lower()

    def fetched_archive_md5(self) -> str | None:
        """The md5 of the archive in results/data/, if there is one."""
        return self._md5(self.archive) if Path(self.archive).is_file() else None

    def _md5(self, path: str) -> str:
        """A file's md5, read once per snakemake run (the archive is 163 MB)."""
        if path not in self._md5s:
            self._md5s[path] = file_digest(path, "md5")
        return self._md5s[path]

    DATASET = {
        name: f"{RESULTS}/data/cifar10/{name}.npy"
        for name in ("train_images", "train_labels", "test_images", "test_labels")
    }

    # ---- trials ---------------------------------------------------------------------------
    def trials(self, experiment: str | None = None) -> list[Trial]:
        names = [experiment] if experiment else list(self.experiments)
        return [Trial(n, t) for n in names for t in range(1, self.experiments[n]["trials"] + 1)]

    def experiment(self, name: str) -> dict:
        if name not in self.experiments:
            raise StudyError(f"no experiment {name!r} in the config; its experiments: {_some(self.experiments)}")
        return self.experiments[name]

    def check_trial(self, name: str, trial: int) -> None:
        """A StudyError for a trial that the config does not have (a target's experiment or number)."""
        count = self.experiment(name)["trials"]
        if not 1 <= int(trial) <= count:
            raise StudyError(
                f"experiment {name!r} has {count} trial{'s' if count != 1 else ''} "
                f"(trial-01{f' to trial-{count:02d}' if count > 1 else ''}): there is no trial-{int(trial):02d}"
            )

    def sweep(self, name: str) -> dict:
        if name not in self.sweeps:
            raise StudyError(f"no sweep {name!r} in the config; its sweeps: {_some(self.sweeps) or 'none'}")
        return self.sweeps[name]

    def noise_condition(self, slug: str) -> tuple[str, dict]:
        """The noise and parameters of a noise example's name, e.g. gaussian-sigma20."""
        conditions = self.noise_conditions()
        if slug not in conditions:
            raise StudyError(f"no noise condition {slug!r} in the config; its conditions: {_some(conditions)}")
        return conditions[slug]

    def split_id(self, name: str, trial: int) -> str:
        self.check_trial(name, trial)
        exp = self.experiment(name)
        test = exp["test_set"] + (f"{exp['test_size']}" if exp["test_size"] else "")
        shuffle = "-unpaired" if exp["shuffle"] == "unpaired" else ""
        return f"train{exp['train_size']}-{test}{shuffle}-trial{int(trial):02d}"

    def split_files(self, name: str, trial: int) -> dict[str, str]:
        folder = f"{RESULTS}/splits/{self.split_id(name, trial)}"
        return {key: f"{folder}/{key}.npy" for key in self.DATASET}

    def split_identity(self, name: str, trial: int) -> str:
        """The record of the split's parameters and files (see cifar_noise.identity)."""
        return f"{RESULTS}/splits/{self.split_id(name, trial)}/split.json"

    def split_params(self, split_id: str) -> dict:
        """Parameters of a split folder name (the experiments sharing it agree on them)."""
        for name in self.experiments:
            for trial in range(1, self.experiments[name]["trials"] + 1):
                if self.split_id(name, trial) == split_id:
                    exp = self.experiments[name]
                    return {
                        "train_size": exp["train_size"],
                        "test_set": exp["test_set"],
                        "test_size": exp["test_size"],
                        "shuffle": exp["shuffle"],
                        "seed": derive_seed(self.config["seed"], "split", trial),
                    }
        raise StudyError(f"no trial of the config uses split {split_id!r}; its splits: {_some(self.split_ids())}")

    def shard_count(self, name: str) -> int:
        exp = self.experiment(name)
        return shard_count(exp["train_size"], exp["enlarge"], self.config["shards"]["size"])

    def _check_shard_jobs(self) -> None:
        """A job per shard: Snakemake plans about 200 jobs a second, so a small shards.size under a
        large study would keep it planning for minutes before saying anything."""
        trials = self.trials()
        shards = sum(self.shard_count(t.experiment) for t in trials)
        if shards > MAX_SHARD_JOBS:
            exps = [self.experiments[t.experiment] for t in trials]
            images = sum(exp["train_size"] * (exp["enlarge"] - 1) for exp in exps)
            enough = -(-images // max(1, MAX_SHARD_JOBS - len(trials)))  # each trial's last shard may be partial
            raise StudyError(
                f"invalid config: shards.size: {self.config['shards']['size']} makes {shards:,} shard files, more than "
                f"the {MAX_SHARD_JOBS:,} a study may have; set shards.size to at least {enough:,} "
                "(or shrink the study: make plan shows its size)"
            )

    def shard_files(self, name: str, trial: int) -> list[str]:
        folder = f"{Trial(name, int(trial)).folder}/shards"
        return [f"{folder}/shard-{s:04d}.npy" for s in range(self.shard_count(name))]

    def shard_identities(self, name: str, trial: int) -> list[str]:
        """The record of each shard, beside it (see cifar_noise.identity)."""
        return [path.removesuffix(".npy") + ".json" for path in self.shard_files(name, trial)]

    def shard_params(self, name: str, trial: int) -> dict:
        self.check_trial(name, trial)
        exp = self.experiment(name)
        return {
            "noise": exp["noise"],
            "noise_params": exp["noise_params"],
            "clip": exp["clip"],
            "enlarge": exp["enlarge"],
            "shard_size": self.config["shards"]["size"],
            "noise_seed": derive_seed(self.config["seed"], "noise", int(trial)),
        }

    def trial_params(self, name: str, trial: int) -> dict:
        """Every parameter that determines one trial's numbers, and nothing else (recorded in its
        metrics.json). Snakemake reruns a trial when these change, so no folder, description or
        evaluation batch size belongs here: moving a checkout or rewording a description must
        not retrain anything."""
        self.check_trial(name, trial)
        trial = int(trial)
        exp = self.experiment(name)
        training = self.config["training"]
        return {
            "experiment": name,
            "trial": trial,
            "train_size": exp["train_size"],
            "test_set": exp["test_set"],
            "test_size": exp["test_size"],
            "architecture": exp["architecture"],
            "noise": exp["noise"],
            "noise_params": exp["noise_params"],
            "enlarge": exp["enlarge"],
            "epochs": exp["epochs"],
            "shuffle": exp["shuffle"],
            "batch_size": exp["batch_size"],
            "scale_inputs": exp["scale_inputs"],
            "clip": exp["clip"],
            "evaluate_every_epoch": training["evaluate_every_epoch"],
            "precision": training["precision"],
            "shard_size": self.config["shards"]["size"],
            "seed": self.config["seed"],
            "split_seed": derive_seed(self.config["seed"], "split", trial),
            "noise_seed": derive_seed(self.config["seed"], "noise", trial),
            "train_seed": derive_seed(self.config["seed"], "train", trial),
        }

    def noise_conditions(self) -> dict[str, tuple[str, dict]]:
        """Every distinct (noise, parameters) of the noisy experiments, by file-name-safe slug."""
        conditions = {}
        for exp in self.experiments.values():
            if exp["noise"] != "none":
                conditions[condition_slug(exp["noise"], exp["noise_params"])] = (exp["noise"], exp["noise_params"])
        return conditions

    def split_ids(self) -> list[str]:
        return list(dict.fromkeys(self.split_id(t.experiment, t.trial) for t in self.trials()))

    def metrics_files(self) -> list[str]:
        return [f"{t.folder}/metrics.json" for t in self.trials()]

    # ---- robustness: corrupted test sets and the evaluation of every trial on them ----------
    def corrupted_files(self, split_id: str) -> dict[str, str]:
        return {name: f"{RESULTS}/corrupted/{split_id}/{name}.npy" for name in self.corruptions}

    def corruption_params(self, split_id: str, name: str) -> dict:
        """What determines one corrupted test set: its split's seed, the subset size, the corruption."""
        if name not in self.corruptions:
            corruptions = _some(self.corruptions) or "none"
            raise StudyError(f"no corruption {name!r} in the config; its corruptions: {corruptions}")
        return {
            "split_seed": self.split_params(split_id)["seed"],
            "test_size": self.config["corruptions"]["test_size"],
            "corruption": _numbers_only(self.corruptions[name]),
        }

    def evaluation_params(self, name: str, trial: int) -> dict:
        """What determines a trial's numbers on the corrupted sets (besides its trained model)."""
        self.check_trial(name, trial)
        trial = int(trial)
        return {
            "experiment": name,
            "trial": trial,
            "scale_inputs": self.experiment(name)["scale_inputs"],
            "split_seed": derive_seed(self.config["seed"], "split", trial),
            "test_size": self.config["corruptions"]["test_size"],
            "corruptions": {name: _numbers_only(c) for name, c in self.corruptions.items()},
        }

    def robustness_files(self) -> list[str]:
        """Every trial's robustness.json; none when no corruption is configured."""
        return [f"{t.folder}/robustness.json" for t in self.trials()] if self.corruptions else []

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

    @staticmethod
    def checkpoint_dir(name: str, trial: int) -> str:
        return f"{CHECKPOINTS}/{name}/trial-{int(trial):02d}"
