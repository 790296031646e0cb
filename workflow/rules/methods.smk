# Other ways to find a sub-network than IMP (appendix D's LT-SFT and FISH; one-shot, early-bird, Wanda): masks at one
# sparsity per task, language and transfer seed, in IMP's mask format with their cost; `train_subnetwork` trains
# them like any ticket (source `wanda`: the target language's own mask, `wanda.t1`: language t1's).


rule method_mask:
    input:
        unpack(method_mask_input),
    output:
        method_mask_path("{method}", "{task}", "{lang}", "{seed}", "{sparsity}"),
    log:
        log(
            f"method_mask/{{method}}/{{task}}/{{lang}}/seed{{seed}}/sparsity{{sparsity}}"
        ),
    conda:
        "../../envs/subnets.yaml"
    threads: training_threads
    resources:
        gpu=training_resource("gpu", "gpu_per_job"),
        mem_mb=training_resource("mem_mb"),
        runtime=training_resource("runtime"),
    params:
        training=method_training_params,
        options=task_options,
        method=lambda w: STUDY.method_options(w.method),
    script:
        "../scripts/method_mask.py"


rule mask_methods_table:
    input:
        unpack(lambda w: study_paths(STUDY.mask_methods_inputs(w.task))),
    output:
        csv=table("{task}/mask_methods_sparsity{sparsity}"),
        md=table("{task}/mask_methods_sparsity{sparsity}", "md"),
    log:
        log(f"mask_methods_table/{{task}}/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        methods=list(STUDY.mask_methods),
        languages=lambda w: STUDY.method_languages(w.task),
    script:
        "../scripts/mask_methods_table.py"


rule ticket_methods_table:
    input:
        unpack(lambda w: study_paths(STUDY.ticket_methods_inputs(w.task))),
    output:
        csv=table("{task}/ticket_methods"),
        md=table("{task}/ticket_methods", "md"),
        layers=table("{task}/ticket_methods_layers"),
        summary=table("{task}/ticket_methods_summary"),
        summary_md=table("{task}/ticket_methods_summary", "md"),
    log:
        log(f"ticket_methods_table/{{task}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        methods=list(STUDY.mask_methods),
        languages=lambda w: STUDY.method_languages(w.task),
        sparsity=STUDY.mask_methods_sparsity,
    script:
        "../scripts/ticket_methods_table.py"


rule ticket_methods:
    input:
        csv=expand(table("{task}/ticket_methods"), task=STUDY.method_tasks),
        summary=expand(table("{task}/ticket_methods_summary"), task=STUDY.method_tasks),
    output:
        csv=table("ticket_methods"),
        md=table("ticket_methods", "md"),
        summary=table("ticket_methods_summary"),
        summary_md=table("ticket_methods_summary", "md"),
    log:
        log("ticket_methods"),
    conda:
        "../../envs/subnets.yaml"
    script:
        "../scripts/ticket_methods_join.py"


rule plot_ticket_methods:
    input:
        table("ticket_methods"),
    output:
        png=report(
            figure("ticket_methods_cost_agreement", "png"),
            caption="../report/ticket_methods.rst",
            category="Cheaper ways to a ticket",
        ),
        pdf=figure("ticket_methods_cost_agreement", "pdf"),
    log:
        log("plots/ticket_methods_cost_agreement"),
    conda:
        "../../envs/subnets.yaml"
    script:
        "../scripts/plot_ticket_methods.py"
