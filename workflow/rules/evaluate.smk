rule evaluate_samples:
    input:
        LAYOUT.pattern(SAMPLES),
    output:
        LAYOUT.pattern(METRICS.replace("{name}", "{sampler}")),
    params:
        config=CONFIG_FILE,
        spec=sampler_params,
    log:
        log_path("evaluate", "{dataset}", "{sampler}"),
    benchmark:
        benchmark_path("evaluate", "{dataset}", "{sampler}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/scorebench.yaml"
    shell:
        "scorebench evaluate {params.config} --dataset {wildcards.dataset} --sampler {wildcards.sampler}"
        " --results " + RESULTS + " > {log} 2>&1"


rule evaluate_models:
    input:
        model_files,
    output:
        LAYOUT.pattern(METRICS.replace("{name}", MODEL_METRICS)),
    params:
        config=CONFIG_FILE,
        spec=lambda w: sb_config.section(CONFIG, "evaluate", w.dataset),
    log:
        log_path("evaluate", "{dataset}", MODEL_METRICS),
    benchmark:
        benchmark_path("evaluate", "{dataset}", MODEL_METRICS)
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=gpus("evaluate"),
    conda:
        "../envs/scorebench.yaml"
    shell:
        "scorebench evaluate {params.config} --dataset {wildcards.dataset} --results " + RESULTS + " > {log} 2>&1"
