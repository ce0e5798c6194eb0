rule train:
    output:
        model=LAYOUT.pattern(MODEL_FILE),
    params:
        config=CONFIG_FILE,
        spec=run_params,
    log:
        log_path("train", "{dataset}", "{objective}", "{schedule}", "seed{seed}"),
    benchmark:
        benchmark_path("train", "{dataset}", "{objective}", "{schedule}", "seed{seed}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=gpus("train"),
    conda:
        "../envs/scorebench.yaml"
    shell:
        "scorebench train {params.config} --dataset {wildcards.dataset} --objective {wildcards.objective}"
        " --schedule {wildcards.schedule} --seed {wildcards.seed} --results " + RESULTS + " --record-failure"
        " > {log} 2>&1"
