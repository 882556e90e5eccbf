if CONFIG["data"]["archive"]:

    rule copy_local_archive:
        output:
            archive=STUDY.archive,
        log:
            f"{RESULTS}/logs/copy_local_archive.log",
        benchmark:
            f"{RESULTS}/benchmarks/copy_local_archive.tsv"
        localrule: True
        conda:
            ENV
        params:
            # The archive's content, not its path, is what the study depends on: the same file
            # at another path (a moved checkout, another mount) must not redo anything. The script
            # reads the path from the config; a different content reruns the study.
            content_md5=local_archive_md5,
        script:
            "../../scripts/copy_local_archive.py"

else:

    rule download_archive:
        output:
            archive=STUDY.archive,
        log:
            f"{RESULTS}/logs/download_archive.log",
        benchmark:
            f"{RESULTS}/benchmarks/download_archive.tsv"
        localrule: True  # cluster nodes often have no internet
        conda:
            ENV
        params:
            url=CONFIG["data"]["url"],
            md5=CONFIG["data"]["md5"],
        script:
            "../../scripts/download_archive.py"


rule extract_dataset:
    input:
        archive=STUDY.archive,
    output:
        **STUDY.DATASET,
    log:
        f"{RESULTS}/logs/extract_dataset.log",
    benchmark:
        f"{RESULTS}/benchmarks/extract_dataset.tsv"
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(15),
    script:
        "../../scripts/extract_dataset.py"


rule split_dataset:
    input:
        **STUDY.DATASET,
    output:
        **{name: f"{RESULTS}/splits/{{split}}/{name}.npy" for name in STUDY.DATASET},
        identity=f"{RESULTS}/splits/{{split}}/split.json",
    log:
        f"{RESULTS}/logs/split_dataset/{{split}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/split_dataset/{{split}}.tsv"
    conda:
        ENV
    resources:
        mem_mb=scaled(2000),
        runtime=scaled(15),
    params:
        split=lambda wildcards: STUDY.split_params(wildcards.split),
    script:
        "../../scripts/split_dataset.py"
