"""The config's schema and its validation: Snakemake's ``config`` is checked and completed in place
(defaults filled in), and a bad key stops the run in one line that names it and the fix.

The schema's noise and architecture parts come from the registries (cifar_noise.noise.NOISES,
cifar_noise.models.ARCHITECTURES), so that a noise or an architecture is declared in one place.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import yaml

from . import StudyError
from .corruptions import DEFAULT_CORRUPTIONS, severity_params
from .design import SPLIT_FIELDS, noise_params, resolve_corruption, sweep_point, test_pool
from .noise import NOISES, default_params, noise_types

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"

# Which noise parameters mean something for which noise type.
NOISE_PARAM_KEYS = {name: set(default_params(name)) for name in noise_types()}

# A study config is a few kilobytes. Anything near a megabyte is a
# wrong file or a generator gone wrong, and would only be validated and expanded for minutes.
MAX_CONFIG_BYTES = 1_000_000


def complete_schema(schema: dict) -> dict:
    """Fill the schema's noise and architecture parts in from the registries."""
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
    """Validate ``config`` and fill its defaults in, in place (it is returned too); StudyError names
    the bad key. Validating a validated config changes nothing.

    Not ``snakemake.utils.validate(config, schema, set_default=True)``, though it fills the same
    defaults (also under ``additionalProperties``, checked with Snakemake 9.27.1): it reads the
    schema from a file, and this one's noise and architecture parts come from the registries
    (complete_schema); and it stops at the first error with jsonschema's text over several lines,
    where this names every bad key by its dotted path, with the fix, in one line. Both use
    jsonschema's Draft 2020-12 validator.
    """
    import jsonschema

    _check_size(config)
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), _path(e)))
    if errors:
        raise StudyError("invalid config: " + "; ".join(_describe(e) for e in errors[:10]))
    _fill_defaults(config, schema, schema)
    _resolve_inherited(config)
    problems = _check_experiments(config) + _check_sweeps(config) + _check_corruptions(config)
    if problems:
        raise StudyError("invalid config: " + "; ".join(dict.fromkeys(problems)))
    return config


def _path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def _describe(error) -> str:
    where = _path(error)
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


def _check_size(config) -> None:
    size = len(json.dumps(config, default=str))
    if size > MAX_CONFIG_BYTES:
        raise StudyError(
            f"invalid config: it is {size / 1e6:.1f} MB, more than the {MAX_CONFIG_BYTES / 1e6:g} MB a study "
            "config may be (a study is a few kilobytes); check that --configfile names the right file"
        )


def _resolve_inherited(config: dict) -> None:
    """An experiment's scale_inputs and precision default to training's."""
    for exp in [*config["experiments"].values(), *(sweep["experiment"] for sweep in config["sweeps"].values())]:
        for key in ("scale_inputs", "precision"):
            if exp[key] is None:
                exp[key] = config["training"][key]


def check_folder_names(experiments: dict, sweeps: dict) -> None:
    """Names become folder and file names: two that differ only in case are one folder on a
    case-insensitive filesystem (macOS, Windows), where their trials would overwrite each other.
    Checked on the expanded study (generated names too)."""
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


def _check_experiments(config: dict) -> list[str]:
    """Each declared experiment, and its baseline: another experiment with the same splits."""
    problems = []
    experiments = config["experiments"]
    for name, exp in experiments.items():
        problems += _check_experiment(f"experiments.{name}", exp, config)
        baseline = exp["baseline"]
        if baseline is None:
            continue
        if baseline not in experiments:
            problems.append(f"experiments.{name}.baseline: no experiment named {baseline!r}")
        elif baseline == name:
            problems.append(f"experiments.{name}.baseline: an experiment cannot be its own baseline")
        elif any(experiments[baseline][key] != exp[key] for key in SPLIT_FIELDS):
            problems.append(
                f"experiments.{name}.baseline: {baseline!r} uses other splits (its "
                f"{', '.join(SPLIT_FIELDS)} differ), so its trials do not pair with this one's"
            )
    return problems


def _check_sweeps(config: dict) -> list[str]:
    """Each sweep varies something its experiment has, with valid values, and each point is valid."""
    problems = []
    for name, sweep in config["sweeps"].items():
        base = sweep["experiment"]
        where = f"sweeps.{name}"
        if name in config["experiments"]:
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
            point = sweep_point(sweep, value)
            problems += _check_experiment(f"{where} ({sweep['vary']}={value:g})", point, config)
    return problems


def _check_corruptions(config: dict) -> list[str]:
    """Each corruption varies a parameter of its noise, and every severity is a valid setting."""
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
        problems += _check_severities(where, corruption, noise.params[corruption["vary"]])
        resolved = resolve_corruption(name, corruption)
        if corruption["noise"] == "regional" and any(p["patch_size"] % 2 == 0 for p in severity_params(resolved)):
            problems.append(f"{where}: regional patch_size must be odd (a square with a centre pixel)")
    return problems


def _check_severities(where: str, corruption: dict, spec: dict) -> list[str]:
    lowest, highest = spec.get("minimum", -math.inf), spec.get("maximum", math.inf)
    problems = []
    for value in corruption["severities"]:
        if spec["type"] == "integer" and value != int(value):
            problems.append(f"{where}.severities: {corruption['vary']} takes whole numbers, not {value:g}")
        elif not lowest <= value <= highest:
            problems.append(
                f"{where}.severities: {value:g} is outside the range of {corruption['vary']} "
                f"({spec.get('minimum', '-inf')} to {spec.get('maximum', 'inf')})"
            )
    return problems
