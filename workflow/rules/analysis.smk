# Aggregates of the IMP rounds (small CPU jobs): the per-round table, the metric-vs-sparsity curve (Fig. 2)
# and the winning tickets (Table 2).


rule imp_summary:
    input:
        metrics=imp_metrics_of_task,
        random=random_metrics_of_task,
    output:
        rounds=table("{task}/imp_rounds"),
        curve=report(
            table("{task}/sparsity_curve"),
            caption="../report/sparsity_curve.rst",
            category="Fig. 2: winning tickets",
        ),
        curve_md=table("{task}/sparsity_curve", "md"),
        tickets=table("{task}/winning_tickets"),
    log:
        log(f"imp_summary/{{task}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=task_languages,
    script:
        "../scripts/imp_summary.py"


rule winning_tickets_table:
    input:
        expand(table("{task}/winning_tickets"), task=TASKS),
    output:
        csv=report(
            table("winning_tickets"),
            caption="../report/winning_tickets.rst",
            category="Tables",
        ),
        wide=table("winning_tickets_wide"),
        md=table("winning_tickets", "md"),
    log:
        log("winning_tickets_table"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=STUDY.language_order,
    script:
        "../scripts/winning_tickets_table.py"
