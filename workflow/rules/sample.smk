rule sample:
    input:
        model_files,
    output:
        directory(LAYOUT.pattern(SAMPLES)),
    log:
        log_path("sample", "{dataset}/{sampler}"),
    benchmark:
        benchmark_path("sample", "{dataset}/{sampler}")
    conda:
        "../envs/scorebench.yaml"
    threads: resource("sample", "cpus", 1)
    resources:
        **placement("sample", gpus("evaluate")),
        mem_mb=resource("sample", "mem_mb", 4000),
        runtime=resource("sample", "runtime", 120),
        gpu=gpus("evaluate"),
    params:
        config=CONFIG_FILE,
        spec=sampler_params,
    shell:
        "scorebench sample {params.config} --dataset {wildcards.dataset} --sampler {wildcards.sampler}"
        " > {log} 2>&1"
