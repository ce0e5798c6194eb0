rule sample:
    input:
        model_files,
    output:
        directory(LAYOUT.pattern(SAMPLES)),
    params:
        config=CONFIG_FILE,
        spec=sampler_params,
    log:
        log_path("sample", "{dataset}", "{sampler}"),
    benchmark:
        benchmark_path("sample", "{dataset}", "{sampler}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=gpus("evaluate"),
    conda:
        "../envs/scorebench.yaml"
    shell:
        "scorebench sample {params.config} --dataset {wildcards.dataset} --sampler {wildcards.sampler}"
        " --results " + RESULTS + " > {log} 2>&1"
