# One job per dataset × sampler draws every run's samples and writes their metric rows in one process
# (sampling alone takes seconds; a second process would spend as long starting). Each run's samples are
# kept under samples/<dataset>/<sampler>/ (not a declared output, so a rerun keeps them): a run whose
# model and draw settings are unchanged is not drawn again, only evaluated.
rule sample:
    input:
        model_files,
        reference=REFERENCE_INPUT,
    output:
        LAYOUT.pattern(METRICS, name="{sampler}"),
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
        spec=sample_metric_params,
    shell:
        "scorebench sample {params.config} --dataset {wildcards.dataset} --sampler {wildcards.sampler}"
        " --evaluate > {log} 2>&1"
