rule aggregate_trials:
    input:
        metrics=study_files(rules.train_trial.output.metrics),
        robustness=study_files(rules.evaluate_trial.output.robustness),
    output:
        csv=report(
            "results/tables/trials.csv",
            caption="../report/trials.rst",
            category="Summary",
            subcategory="Tables",
        ),
        robustness=report(
            "results/tables/robustness.csv",
            caption="../report/robustness_table.rst",
            category="Robustness",
        ),
        tables=[
            report(
                f"results/tables/{name}.md",
                caption="../report/experiment_table.rst",
                category="Experiments",
                subcategory=name,
                labels={"experiment": name, "table": "notebook format"},
            )
            for name in STUDY.experiments
        ],
    log:
        "results/logs/aggregate_trials.log",
    benchmark:
        "results/benchmarks/aggregate_trials.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=list(STUDY.experiments),
        descriptions=descriptions(),
    script:
        "../../scripts/aggregate_trials.py"


rule summarize:
    input:
        csv=rules.aggregate_trials.output.csv,
        robustness=rules.aggregate_trials.output.robustness,
        clipping=study_files(rules.clipping_share.output.json),
    output:
        summary=report(
            "results/summary.md",
            caption="../report/summary.rst",
            category="Summary",
            subcategory="Tables",
        ),
        comparisons=report(
            "results/tables/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Summary",
            subcategory="Tables",
        ),
        landing="results/report/workflow.rst",
    log:
        "results/logs/summarize.log",
    benchmark:
        "results/benchmarks/summarize.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=STUDY.experiments,
        comparisons=STUDY.comparisons,
        sweeps=STUDY.sweeps,
        statistics=config["statistics"],
        corruptions=STUDY.corruptions,
    script:
        "../../scripts/summarize.py"


rule plot_results:
    input:
        csv=rules.aggregate_trials.output.csv,
        histories=study_files(rules.train_trial.output.history),
        metrics=study_files(rules.train_trial.output.metrics),
    output:
        accuracy=report(
            "results/plots/test_accuracy.png",
            caption="../report/test_accuracy.rst",
            category="Summary",
            subcategory="Plots",
        ),
        curves=report(
            "results/plots/training_curves.png",
            caption="../report/training_curves.rst",
            category="Summary",
            subcategory="Plots",
        ),
        comparison_curves=report(
            "results/plots/comparison_curves.png",
            caption="../report/comparison_curves.rst",
            category="Summary",
            subcategory="Plots",
        ),
        per_class=report(
            "results/plots/per_class_accuracy.png",
            caption="../report/per_class_accuracy.rst",
            category="Summary",
            subcategory="Plots",
        ),
        confusion=report(
            "results/plots/confusion_matrices.png",
            caption="../report/confusion_matrices.rst",
            category="Summary",
            subcategory="Plots",
        ),
    log:
        "results/logs/plot_results.log",
    benchmark:
        "results/benchmarks/plot_results.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=list(STUDY.experiments),
        level=config["statistics"]["confidence"],
        min_trials=config["statistics"]["min_trials"],
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
            "results/plots/corruption_accuracy.png",
            caption="../report/corruption_accuracy.rst",
            category="Robustness",
        ),
        tradeoff=report(
            "results/plots/robustness_tradeoff.png",
            caption="../report/robustness_tradeoff.rst",
            category="Robustness",
        ),
    log:
        "results/logs/plot_robustness.log",
    benchmark:
        "results/benchmarks/plot_robustness.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        experiments=STUDY.robustness_experiments(),
        corruptions=STUDY.corruptions,
        level=config["statistics"]["confidence"],
    script:
        "../../scripts/plot_robustness.py"


rule plot_sweep:
    input:
        csv=rules.aggregate_trials.output.csv,
    output:
        png=report(
            "results/plots/sweeps/{sweep}.png",
            caption="../report/sweep.rst",
            category="Noise sweeps",
            labels={"sweep": "{sweep}"},
        ),
    log:
        "results/logs/plot_sweep/{sweep}.log",
    benchmark:
        "results/benchmarks/plot_sweep/{sweep}.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        sweep=get_sweep,
        level=config["statistics"]["confidence"],
    script:
        "../../scripts/plot_sweep.py"


rule plot_runtimes:
    input:
        unpack(get_benchmark_files),
    output:
        png=report(
            "results/plots/runtimes.png",
            caption="../report/runtimes.rst",
            category="Runtime",
        ),
    log:
        "results/logs/plot_runtimes.log",
    benchmark:
        "results/benchmarks/plot_runtimes.tsv"
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
        clipping=study_files(rules.clipping_share.output.json),
        plots=[
            *rules.plot_results.output,
            *study_files(*rules.plot_robustness.output),
            *study_files(rules.plot_sweep.output.png),
            *study_files(rules.noise_examples.output.png),
            rules.plot_runtimes.output.png,
        ],
        trials=study_files(rules.train_trial.output.metrics, rules.train_trial.output.history),
        robustness=study_files(rules.evaluate_trial.output.robustness),
    output:
        zip="results/study-archive.zip",
    log:
        "results/logs/archive.log",
    benchmark:
        "results/benchmarks/archive.tsv"
    conda:
        REPORT_ENV
    resources:
        **SMALL_JOB,
    params:
        config=archived_config,
    script:
        "../../scripts/archive_results.py"


# What the study costs before it runs (make plan): its trials, images, disk and time on this
# machine, on the terminal and in the log. A target of its own (snakemake plan) that always runs; it
# writes only the speed it measures, for the next plan.
rule plan:
    log:
        "results/logs/plan.log",
    localrule: True
    conda:
        ENV
    params:
        layout=layout(),
        config=" ".join(map(str, configfiles_loaded())) or "the config",
        threads=rule_threads("train_trial"),
        metrics=study_files(rules.train_trial.output.metrics),
        speed_file="results/plan/speed.json",
    script:
        "../../scripts/plan_study.py"
