# One job per dataset × objective trains all its runs (schedules × seeds) in one process, then writes
# their model metric rows (training time, Fisher divergence, NLL); each run keeps its own directory,
# checkpoint and record, and a finished run with unchanged params is skipped (only evaluated again).
rule train:
    output:
        group=LAYOUT.pattern(TRAIN_GROUP),
        metrics=LAYOUT.pattern(METRICS, name=model_file("{objective}")),
    log:
        log_path("train", "{dataset}/{objective}"),
    benchmark:
        benchmark_path("train", "{dataset}/{objective}")
    # before any sampling job (whose larger inputs would otherwise win Snakemake's tie-break): a
    # dataset's samplers wait for all its training groups, so a training job left for last idles cores
    priority: 1
    conda:
        "../envs/scorebench.yaml"
    threads: resource("train", "cpus", 1)
    resources:
        **placement("train", gpus("train", "evaluate")),
        mem_mb=resource("train", "mem_mb", 4000),
        runtime=resource("train", "runtime", 120),
        gpu=gpus("train", "evaluate"),
    params:
        config=CONFIG_FILE,
        spec=group_params,
    shell:
        "scorebench train {params.config} --dataset {wildcards.dataset} --objective {wildcards.objective}"
        " --record-failure --evaluate > {log} 2>&1"
