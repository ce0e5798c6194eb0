# Inpainting (a config's `conditioning:` section): one job per dataset × listed sampler completes the
# test points with every mask and method for every run of the dataset; the report's input asks for
# these files only when the section is present.
rule condition:
    input:
        model_files,
    output:
        LAYOUT.pattern(METRICS, name="conditional.{sampler}"),
    log:
        log_path("condition", "{dataset}/{sampler}"),
    benchmark:
        benchmark_path("condition", "{dataset}/{sampler}")
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
        spec=condition_params,
    shell:
        "scorebench condition {params.config} --dataset {wildcards.dataset} --sampler {wildcards.sampler}"
        " > {log} 2>&1"
