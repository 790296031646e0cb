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
        log("paper_comparison"),
    conda:
        "../../envs/subnets.yaml"
    params:
        tasks=TASKS,
        family=STUDY.family,
    script:
        "../scripts/paper_comparison.py"
