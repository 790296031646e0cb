# Other ways to find a sub-network (appendix D): LT-SFT and FISH masks at one sparsity per task, language and
# transfer seed, in IMP's mask format; `train_subnetwork` trains them (source lt_sft / fish) like any ticket.


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
        fish_examples=STUDY.fish_examples,
    script:
        "../scripts/method_mask.py"


rule mask_methods_table:
    input:
        unpack(mask_methods_table_input),
    output:
        csv=table("{task}/mask_methods_sparsity{sparsity}"),
        md=table("{task}/mask_methods_sparsity{sparsity}", "md"),
    log:
        log(f"mask_methods_table/{{task}}/sparsity{{sparsity}}"),
    conda:
        "../../envs/subnets.yaml"
    params:
        methods=list(STUDY.mask_methods),
        languages=task_languages,
    script:
        "../scripts/mask_methods_table.py"
