# Figures (seaborn; PNG and PDF), captions in workflow/report/ for `snakemake --report`.


rule plot_sparsity:
    input:
        curve=table("{task}/sparsity_curve"),
    output:
        png=report(
            figure("fig2_sparsity_{task}", "png"),
            caption="../report/fig2.rst",
            category="Fig. 2: winning tickets",
        ),
        pdf=figure("fig2_sparsity_{task}", "pdf"),
    log:
        log(f"plots/fig2_sparsity_{{task}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=task_languages,
    script:
        "../scripts/plot_sparsity.py"


rule plot_overlap:
    input:
        overlap=table(f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}"),
        bound=table(f"{{task}}/overlap_bound_sparsity{label(STUDY.overlap_sparsity)}"),
    output:
        png=report(
            figure("fig3_overlap_{task}", "png"),
            caption="../report/fig3.rst",
            category="Fig. 3: overlap",
        ),
        pdf=figure("fig3_overlap_{task}", "pdf"),
    log:
        log(f"plots/fig3_overlap_{{task}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=task_languages,
        sparsity=STUDY.overlap_sparsity,
    script:
        "../scripts/plot_overlap.py"


rule plot_transfer:
    input:
        matrix=table("{task}/transfer_sparsity{sparsity}"),
        drop=table("{task}/relative_drop_sparsity{sparsity}"),
    output:
        png=report(
            figure("fig4_transfer_{task}_sparsity{sparsity}", "png"),
            caption="../report/fig4.rst",
            category="Fig. 4: transfer",
        ),
        pdf=figure("fig4_transfer_{task}_sparsity{sparsity}", "pdf"),
    log:
        log(f"plots/fig4_transfer_{{task}}_sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    script:
        "../scripts/plot_transfer.py"


rule plot_relative_drop:
    input:
        drops=table("relative_transfer_drop"),
    output:
        png=report(
            figure("fig6_relative_drop", "png"),
            caption="../report/fig6.rst",
            category="Fig. 6: relative drop",
        ),
        pdf=figure("fig6_relative_drop", "pdf"),
    log:
        log("plots/fig6_relative_drop"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=STUDY.language_order,
    script:
        "../scripts/plot_relative_drop.py"


rule plot_cross_task:
    input:
        table=table("cross_task_sparsity{sparsity}"),
    output:
        png=report(
            figure("fig9_cross_task_sparsity{sparsity}", "png"),
            caption="../report/fig9.rst",
            category="Fig. 9: cross-task transfer",
        ),
        pdf=figure("fig9_cross_task_sparsity{sparsity}", "pdf"),
    log:
        log(f"plots/fig9_cross_task_sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        tasks=TASKS,
        languages=STUDY.language_order,
    script:
        "../scripts/plot_cross_task.py"


rule plot_retrieval:
    input:
        table=table("retrieval"),
    output:
        png=report(
            figure("fig7_retrieval", "png"),
            caption="../report/fig7.rst",
            category="Fig. 7: retrieval",
        ),
        pdf=figure("fig7_retrieval", "pdf"),
    log:
        log("plots/fig7_retrieval"),
    conda:
        "../../envs/subnets.yaml"
    params:
        tasks=TASKS,
        languages=STUDY.language_order,
    script:
        "../scripts/plot_probe.py"


rule plot_cca:
    input:
        table=table("cca"),
    output:
        png=report(
            figure("fig10_cca", "png"),
            caption="../report/fig10.rst",
            category="Fig. 10: SVCCA and PWCCA",
        ),
        pdf=figure("fig10_cca", "pdf"),
    log:
        log("plots/fig10_cca"),
    conda:
        "../../envs/subnets.yaml"
    params:
        tasks=TASKS,
        languages=STUDY.language_order,
    script:
        "../scripts/plot_probe.py"
