# scorebench: train, sample, evaluate and report a benchmark grid.
#   snakemake --cores all                                          # the embedded default
#   snakemake --cores all --configfile config/benchmarks/<x>.yaml  # any other benchmark
# A --configfile replaces the default instead of being merged into it; --config key=value alone
# applies on top of the default.
from snakemake.utils import min_version

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "default.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/condition.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/scaling.smk"
include: "workflow/rules/report.smk"


onstart:
    check_parameters()
    write_resolved_config()


# every output of the report, so that a figure added to the report (or a missing table) reruns it, and
# every metrics file, so that a deleted one is rebuilt (and the report after it) though the report exists
rule all:
    input:
        rules.report.output,
        METRIC_PATHS,
