"""The study design: the experiments a validated config asks for (declared ones, sweep points and
step-matched baselines), the comparisons to make, the sweeps and the corrupted test sets.

Pure functions of the config: no files, no paths. :class:`cifar_noise.study.Study` builds on them.
"""

from __future__ import annotations

import copy

from .noise import NOISES, condition_label, condition_slug, default_params

# CIFAR-10's training and test images.
CIFAR10_SIZES = (50000, 10000)

# What makes trial t of two experiments use the same split (and so be a pair).
SPLIT_FIELDS = ("train_size", "test_set", "test_size", "shuffle")

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
    "precision",
)


def noise_params(config: dict, exp: dict) -> dict:
    """The full noise parameters of an experiment: built-in defaults < config noise < overrides."""
    if exp["noise"] == "none":
        return {}
    return {**default_params(exp["noise"]), **config["noise"][exp["noise"]], **exp["noise_params"]}


def test_pool(exp: dict, sizes: tuple[int, int] = CIFAR10_SIZES) -> int:
    """The test images an experiment's test_set holds: the training images it does not train on
    plus the official test images ("rest"), or the official ones alone (``sizes``: the dataset's
    training and test images)."""
    train, test = sizes
    return (train - exp["train_size"] + test) if exp["test_set"] == "rest" else test


def test_count(exp: dict, sizes: tuple[int, int] = CIFAR10_SIZES) -> int:
    """The test images of an experiment's splits (its test_size, where set)."""
    return exp["test_size"] or test_pool(exp, sizes)


def step_matched_points(sweep: dict) -> bool:
    """Whether an expanded sweep's points are compared with step-matched no-noise baselines (which
    then have a curve and a table of their own) rather than with one of its own points."""
    return sweep["baseline_kind"] == "step-matched" and any(sweep["baselines"])


def sweep_point(sweep: dict, value: float) -> dict:
    """The experiment of one value of a sweep (before its noise parameters are resolved)."""
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


def sweep_title(sweep: dict, config: dict) -> str:
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


def baseline_name(exp: dict, epochs: int) -> str:
    """The name of the no-noise experiment of ``exp``'s splits and model trained ``epochs`` epochs."""
    label = f"no_noise-{exp['train_size']}-{epochs}ep-b{exp['batch_size']}"
    if exp["architecture"] != "seed_a":
        label += f"-{exp['architecture']}"
    if exp["test_set"] != "rest" or exp["test_size"]:
        label += f"-{exp['test_set']}{exp['test_size'] or ''}"
    if exp["shuffle"] != "paired":
        label += f"-{exp['shuffle']}"
    if not exp["scale_inputs"]:
        label += "-raw"
    return label


class Design:
    """The experiments to run, by name, with their noise parameters resolved. A generated
    experiment identical to an existing one reuses it (with the larger trial count) instead of
    running the same computation twice."""

    def __init__(self, config: dict):
        self.config = config
        self.experiments: dict[str, dict] = {}
        self._by_definition: dict[tuple, str] = {}
        for name, exp in config["experiments"].items():
            self._register(name, exp, self._definition(exp))

    def _definition(self, exp: dict) -> tuple:
        resolved = {**exp, "noise_params": tuple(sorted(noise_params(self.config, exp).items()))}
        return tuple(resolved[field] for field in DEFINITION_FIELDS)

    def _register(self, name: str, exp: dict, key: tuple) -> None:
        self.experiments[name] = {**exp, "noise_params": noise_params(self.config, exp)}
        self._by_definition.setdefault(key, name)  # of two identical declared experiments, the first is reused

    def add(self, name: str, exp: dict) -> str:
        """The name under which ``exp`` runs: an identical experiment's, or ``name`` (made unique)."""
        key = self._definition(exp)
        if key in self._by_definition:
            existing = self.experiments[self._by_definition[key]]
            existing["trials"] = max(existing["trials"], exp["trials"])
            return self._by_definition[key]
        while name in self.experiments:  # a declared experiment already has this name
            name += "_"
        self._register(name, exp, key)
        return name

    def matched_baseline(self, exp: dict) -> str:
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
        return self.add(baseline_name(exp, epochs), baseline)

    def sweep(self, name: str, sweep: dict) -> tuple[dict, list[dict]]:
        """A sweep's points and their references, and the comparisons of each point with its reference."""
        title = sweep["description"] or sweep_title(sweep, self.config)
        points = []
        for value in sweep["values"]:
            point = sweep_point(sweep, value)
            point["description"] = f"{title}: {sweep['vary']}={value:g}"
            points.append(self.add(f"{name}-{sweep['vary']}{value:g}", point))
        if sweep["vary"] in ("enlarge", "train_size") or 0 not in sweep["values"]:
            # each point with noise against the no-noise baseline of as many optimizer steps
            kind = "step-matched"
            noisy = [self.experiments[p]["noise"] != "none" for p in points]
            baselines = [
                self.matched_baseline(self.experiments[p]) if n else None for p, n in zip(points, noisy, strict=True)
            ]
        else:  # a noise parameter swept from 0: each point against the same pipeline without noise
            kind = f"{sweep['vary']}=0"
            zero = points[sweep["values"].index(0)]
            baselines = [None if point == zero else zero for point in points]
        expanded = {
            "vary": sweep["vary"],
            "values": list(sweep["values"]),
            "experiments": points,
            "description": title,
            "baselines": baselines,  # each point's reference (None: the point is one itself)
            "baseline_kind": kind,
        }
        pairs = [{"experiment": p, "baseline": b, "kind": kind} for p, b in zip(points, baselines, strict=True) if b]
        return expanded, pairs

    def declared_comparisons(self) -> list[dict]:
        """Each declared experiment against its configured and its step-matched baseline."""
        comparisons = []
        for name, exp in self.config["experiments"].items():
            declared = exp["baseline"]
            if exp["noise"] == "none":  # a no-noise experiment against another (raw vs scaled inputs, say)
                if declared:
                    comparisons.append({"experiment": name, "baseline": declared, "kind": "configured"})
                continue
            matched = self.matched_baseline(exp) if self.config["matched_baselines"] else None
            if declared and declared == matched:
                comparisons.append({"experiment": name, "baseline": declared, "kind": "configured, step-matched"})
                continue
            if declared:
                comparisons.append({"experiment": name, "baseline": declared, "kind": "configured"})
            if matched:
                comparisons.append({"experiment": name, "baseline": matched, "kind": "step-matched"})
        return comparisons


def expand_experiments(config: dict) -> tuple[dict, list[dict], dict]:
    """The experiments to run (declared ones, sweep points, step-matched baselines), the
    comparisons to make, and the sweeps with the experiment of each value."""
    design = Design(config)
    sweeps, sweep_comparisons = {}, []
    for name, sweep in config["sweeps"].items():
        sweeps[name], pairs = design.sweep(name, sweep)
        sweep_comparisons += pairs
    comparisons = design.declared_comparisons()
    # a sweep point may be a declared experiment with the same baseline: each pair is compared once
    compared = {(c["experiment"], c["baseline"]) for c in comparisons}
    comparisons += [c for c in sweep_comparisons if (c["experiment"], c["baseline"]) not in compared]
    return design.experiments, comparisons, sweeps


def resolve_corruptions(config: dict) -> dict[str, dict]:
    """The configured corruptions with every noise parameter filled in (the noise's built-in
    defaults, not the config's noise section: that one sets the training noise)."""
    return {name: resolve_corruption(name, corruption) for name, corruption in config["corruptions"]["sets"].items()}


def resolve_corruption(name: str, corruption: dict) -> dict:
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


def numbers_only(corruption: dict) -> dict:
    """A corruption without its description (a rule's params hold only what determines numbers)."""
    return {key: value for key, value in corruption.items() if key != "description"}


def noise_conditions(experiments: dict) -> dict[str, tuple[str, dict]]:
    """Every distinct (noise, parameters) of the noisy experiments, by file-name-safe slug."""
    conditions = {}
    for exp in experiments.values():
        if exp["noise"] != "none":
            conditions[condition_slug(exp["noise"], exp["noise_params"])] = (exp["noise"], exp["noise_params"])
    return conditions
