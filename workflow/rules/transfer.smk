# Training any (mask, task, target language, seed) from theta0: cross-lingual transfer of winning tickets, random
# sub-networks, re-pruned tickets (footnote 9), cross-task transfer (appendix C) and multilingual tickets
# (Table 1); and the tables they make (Tables 1-5, footnotes 9 and 15, Figs. 4, 6 and 9).


rule random_mask:
    input:
        model=MODEL_DIR,
    output:
        random_mask_path("{task}", "{seed}", "{sparsity}"),
    log:
        log(f"random_mask/{{task}}/seed{{seed}}/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        options=task_options,
        training=theta0_params,
    script:
        "../scripts/random_mask.py"


rule train_subnetwork:
    input:
        unpack(subnetwork_input),
    output:
        train_metrics("{task}", "{lang}", "{seed}", "{source}", "{sparsity}"),
    log:
        log(f"train/{{task}}/{{lang}}/seed{{seed}}/{{source}}-sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    threads: training_threads
    resources:
        gpu=training_resource("gpu", "gpu_per_job"),
        mem_mb=training_resource("mem_mb"),
        runtime=training_resource("runtime"),
    params:
        training=training_params,
        options=task_options,
    script:
        "../scripts/train_subnetwork.py"


rule transfer_matrix:
    input:
        unpack(transfer_matrix_input),
    output:
        runs=table("{task}/transfer_runs_sparsity{sparsity}"),
        matrix=report(
            table("{task}/transfer_sparsity{sparsity}"),
            caption="../report/transfer_table.rst",
            category="Fig. 4: transfer",
        ),
        md=table("{task}/transfer_sparsity{sparsity}", "md"),
        success=table("{task}/transfer_success_sparsity{sparsity}"),
        drop=table("{task}/relative_drop_sparsity{sparsity}"),
    log:
        log(f"transfer_matrix/{{task}}/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=task_languages,
    script:
        "../scripts/transfer_matrix.py"


rule relative_drop_table:
    input:
        expand(
            table("{task}/relative_drop_sparsity{sparsity}"),
            task=TASKS,
            sparsity=[label(s) for s in STUDY.transfer_sparsities],
        ),
    output:
        csv=report(
            table("relative_transfer_drop"),
            caption="../report/relative_drop.rst",
            category="Fig. 6: relative drop",
        ),
        md=table("relative_transfer_drop", "md"),
    log:
        log("relative_drop_table"),
    conda:
        "../../envs/subnets.yaml"
    script:
        "../scripts/relative_drop_table.py"


rule repruned_table:
    input:
        unpack(repruned_table_input),
    output:
        csv=report(
            table("{task}/repruned_baselines_sparsity{sparsity}"),
            caption="../report/repruned.rst",
            category="Footnote 9: re-pruned baselines",
        ),
        md=table("{task}/repruned_baselines_sparsity{sparsity}", "md"),
    log:
        log(f"repruned_table/{{task}}/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        languages=task_languages,
        baselines=STUDY.repruned_sources,
    script:
        "../scripts/repruned_table.py"


rule cross_task_table:
    input:
        cross_task_runs(),
    output:
        csv=report(
            table("cross_task_sparsity{sparsity}"),
            caption="../report/cross_task.rst",
            category="Fig. 9: cross-task transfer",
        ),
        md=table("cross_task_sparsity{sparsity}", "md"),
    log:
        log(f"cross_task_table/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        tasks=TASKS,
        languages=STUDY.language_order,
    script:
        "../scripts/cross_task_table.py"


rule multilingual_table:
    input:
        unpack(multilingual_table_input),
    output:
        csv=report(
            table("{task}/multilingual_sparsity{sparsity}"),
            caption="../report/multilingual.rst",
            category="Table 1: multilingual tickets",
        ),
        md=table("{task}/multilingual_sparsity{sparsity}", "md"),
    log:
        log(f"multilingual_table/{{task}}/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        spec=multilingual_spec,
    script:
        "../scripts/multilingual_table.py"
