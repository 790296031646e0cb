# This run beside the paper: every cell of Tables 1-6 that the run also has, with the difference.


rule paper_comparison:
    input:
        unpack(paper_comparison_input),
    output:
        csv=report(
            table("paper_comparison"), caption="../report/paper.rst", category="Tables"
        ),
        md=table("paper_comparison", "md"),
    log:
        f"{LOGS}/paper_comparison.log",
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        tasks=TASKS,
        family=FAMILY,
    script:
        "../scripts/paper_comparison.py"
