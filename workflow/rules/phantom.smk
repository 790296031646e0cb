# The phantom table of a toy study: each relation the toy world planted (world.json) against what the overlap,
# transfer, winning-ticket and probe tables measured, recovered or not.


rule phantom_table:
    input:
        unpack(phantom_input),
    output:
        csv=report(
            table("phantom"), caption="../report/phantom.rst", category="The phantom"
        ),
        md=table("phantom", "md"),
    log:
        log("phantom_table"),
    conda:
        "../../envs/subnets.yaml"
    params:
        tasks=TASKS,
    script:
        "../scripts/phantom_table.py"
