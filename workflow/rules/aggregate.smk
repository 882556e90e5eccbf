rule aggregate_trials:
    input:
        metrics=STUDY.metrics_files(),
    output:
        csv=report(
            f"{RESULTS}/tables/trials.csv",
            caption="../report/trials.rst",
            category="Tables",
        ),
        tables=[
            report(
                f"{RESULTS}/tables/{name}.md",
                caption="../report/experiment_table.rst",
                category="Tables",
                labels={"experiment": name},
            )
            for name in STUDY.experiments
        ],
    params:
        experiments=list(STUDY.experiments),
    log:
        f"{RESULTS}/logs/aggregate_trials.log",
    benchmark:
        f"{RESULTS}/benchmarks/aggregate_trials.tsv"
    conda:
        ENV
    script:
        "../../scripts/aggregate_trials.py"


rule plot_results:
    input:
        csv=rules.aggregate_trials.output.csv,
        histories=[f"{t.folder}/history.csv" for t in STUDY.trials()],
    output:
        accuracy=report(
            f"{RESULTS}/plots/test_accuracy.png",
            caption="../report/test_accuracy.rst",
            category="Plots",
        ),
        curves=report(
            f"{RESULTS}/plots/training_curves.png",
            caption="../report/training_curves.rst",
            category="Plots",
        ),
    params:
        experiments=list(STUDY.experiments),
        history_experiments=[t.experiment for t in STUDY.trials()],
    log:
        f"{RESULTS}/logs/plot_results.log",
    benchmark:
        f"{RESULTS}/benchmarks/plot_results.tsv"
    conda:
        ENV
    script:
        "../../scripts/plot_results.py"
