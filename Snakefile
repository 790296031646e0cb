# Language-neutral sub-networks of multilingual language models: the whole study as one DAG.
#
#   snakemake --cores 2 --configfile config/demo.yaml          the offline toy world, in minutes
#   snakemake --cores 16 --resources gpu=1                       the paper's grid (config/config.yaml)
#
# The DAG is fixed by the config (no checkpoints); see workflow/rules/*.smk, one file per stage.

from snakemake.utils import min_version, validate

min_version("9.0")


# The paper's grid is the default config. A config file given on the command line REPLACES it (Snakemake would
# otherwise merge the two, and the demo would inherit keys of the paper's grid).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/targets.smk"


wildcard_constraints:
    task="|".join(TASKS),
    lang="[^/]+",
    seed=r"\d+",
    sparsity=r"\d+",
    source="[^/]+",
    mixture="[^/]+",
    kind="retrieval|cca",
    method="|".join(N.MASK_METHODS),
    subnetwork=r"dense|[^/]+/[^/]+/seed\d+-sparsity\d+",


include: "workflow/rules/model.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/prune.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/overlap.smk"
include: "workflow/rules/transfer.smk"
include: "workflow/rules/methods.smk"
include: "workflow/rules/probes.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/phantom.smk"


localrules:
    all,


rule all:
    default_target: True
    input:
        all_targets(),
