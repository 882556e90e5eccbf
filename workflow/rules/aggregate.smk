rule aggregate_trials:
    input:
        metrics=STUDY.metrics_files(),
        robustness=STUDY.robustness_files(),
    output:
        csv=report(
            f"{RESULTS}/tables/trials.csv",
            caption="../report/trials.rst",
            category="Summary",
            subcategory="Tables",
        ),
        robustness=report(
            f"{RESULTS}/tables/robustness.csv",
            caption="../report/robustness_table.rst",
            category="Robustness",
        ),
        tables=[
            report(
                f"{RESULTS}/tables/{name}.md",
                caption="../report/experiment_table.rst",
                category="Experiments",
                subcategory=name,
                labels={"experiment": name, "table": "notebook format"},
            )
            for name in STUDY.experiments
        ],
    log:
        f"{RESULTS}/logs/aggregate_trials.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate_trials.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=list(STUDY.experiments),
        # Descriptions come from the config here, not from the trials: rewording one redoes the
        # tables, never the training.
        descriptions={name: exp["description"] for name, exp in STUDY.experiments.items()},
    script:
        "../../scripts/aggregate_trials.py"


rule summarize:
    input:
        csv=rules.aggregate_trials.output.csv,
        clipping=clipping_files(),
    output:
        summary=report(
            f"{RESULTS}/summary.md",
            caption="../report/summary.rst",
            category="Summary",
            subcategory="Tables",
        ),
        comparisons=report(
            f"{RESULTS}/tables/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Summary",
            subcategory="Tables",
        ),
        landing=REPORT_LANDING,
    log:
        f"{RESULTS}/logs/summarize.log",
    benchmark:
        f"{RESULTS}/benchmarks/summarize.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=STUDY.experiments,
        comparisons=STUDY.comparisons,
        sweeps=STUDY.sweeps,
        statistics=CONFIG["statistics"],
        corruptions=STUDY.corruptions,
    script:
        "../../scripts/summarize.py"


rule plot_results:
    input:
        csv=rules.aggregate_trials.output.csv,
        histories=[f"{t.folder}/history.csv" for t in STUDY.trials()],
        metrics=STUDY.metrics_files(),
    output:
        accuracy=report(
            f"{RESULTS}/plots/test_accuracy.png",
            caption="../report/test_accuracy.rst",
            category="Summary",
            subcategory="Plots",
        ),
        curves=report(
            f"{RESULTS}/plots/training_curves.png",
            caption="../report/training_curves.rst",
            category="Summary",
            subcategory="Plots",
        ),
        comparison_curves=report(
            f"{RESULTS}/plots/comparison_curves.png",
            caption="../report/comparison_curves.rst",
            category="Summary",
            subcategory="Plots",
        ),
        per_class=report(
            f"{RESULTS}/plots/per_class_accuracy.png",
            caption="../report/per_class_accuracy.rst",
            category="Summary",
            subcategory="Plots",
        ),
        confusion=report(
            f"{RESULTS}/plots/confusion_matrices.png",
            caption="../report/confusion_matrices.rst",
            category="Summary",
            subcategory="Plots",
        ),
    log:
        f"{RESULTS}/logs/plot_results.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_results.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=list(STUDY.experiments),
        level=CONFIG["statistics"]["confidence"],
        min_trials=CONFIG["statistics"]["min_trials"],
        trial_experiments=[t.experiment for t in STUDY.trials()],
        comparisons=STUDY.comparisons,
    script:
        "../../scripts/plot_results.py"


rule plot_robustness:
    input:
        csv=rules.aggregate_trials.output.csv,
        robustness=rules.aggregate_trials.output.robustness,
    output:
        curves=report(
            f"{RESULTS}/plots/corruption_accuracy.png",
            caption="../report/corruption_accuracy.rst",
            category="Robustness",
        ),
        tradeoff=report(
            f"{RESULTS}/plots/robustness_tradeoff.png",
            caption="../report/robustness_tradeoff.rst",
            category="Robustness",
        ),
    log:
        f"{RESULTS}/logs/plot_robustness.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_robustness.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=STUDY.robustness_experiments(),
        corruptions=STUDY.corruptions,
        level=CONFIG["statistics"]["confidence"],
    script:
        "../../scripts/plot_robustness.py"


rule plot_sweep:
    input:
        csv=rules.aggregate_trials.output.csv,
    output:
        png=report(
            f"{RESULTS}/plots/sweeps/{{sweep}}.png",
            caption="../report/sweep.rst",
            category="Noise sweeps",
            labels={"sweep": "{sweep}"},
        ),
    log:
        f"{RESULTS}/logs/plot_sweep/{{sweep}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_sweep/{{sweep}}.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        sweep=get_sweep,
        level=CONFIG["statistics"]["confidence"],
    script:
        "../../scripts/plot_sweep.py"


rule plot_runtimes:
    input:
        benchmarks=benchmark_files(),
    output:
        png=report(
            f"{RESULTS}/plots/runtimes.png",
            caption="../report/runtimes.rst",
            category="Runtime",
        ),
    log:
        f"{RESULTS}/logs/plot_runtimes.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_runtimes.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    script:
        "../../scripts/plot_runtimes.py"


rule archive:
    input:
        summary=rules.summarize.output.summary,
        tables=rules.aggregate_trials.output,
        comparisons=rules.summarize.output.comparisons,
        plots=[
            *rules.plot_results.output,
            *robustness_plot_files(),
            *sweep_plot_files(),
            *noise_example_files(),
            rules.plot_runtimes.output.png,
        ],
        trials=[f"{t.folder}/{name}" for t in STUDY.trials() for name in ("metrics.json", "history.csv")],
        robustness=STUDY.robustness_files(),
    output:
        zip=f"{RESULTS}/study-archive.zip",
    log:
        f"{RESULTS}/logs/archive.log",
    benchmark:
        f"{RESULTS}/benchmarks/archive.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        config=archived_config,
    script:
        "../../scripts/archive_results.py"
