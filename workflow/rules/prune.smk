# Iterative magnitude pruning, one job per round: round s trains theta0 * mask_s to its peak (metrics.json)
# and prunes the next p% of the original prunable count (next_mask.safetensors = mask_{s+p}).


rule imp_round:
    input:
        unpack(imp_round_input),
    output:
        metrics=f"{RESULTS}/imp/{{task}}/{{lang}}/seed{{seed}}/sparsity{{sparsity}}/metrics.json",
        next_mask=f"{RESULTS}/imp/{{task}}/{{lang}}/seed{{seed}}/sparsity{{sparsity}}/next_mask.safetensors",
    log:
        f"{LOGS}/imp/{{task}}/{{lang}}/seed{{seed}}/sparsity{{sparsity}}.log",
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
        prune_percent=PRUNE_PERCENT,
        prune_from=config["imp"]["prune_from"],
    script:
        "../scripts/imp_round.py"
