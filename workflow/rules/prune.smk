# Iterative magnitude pruning, one job per round. The round at sparsity s trains theta0 * ticket_s to its peak
# (imp/.../sparsity{s}/metrics.json: the sub-network's performance at s) and prunes the next p% of the original
# prunable count, giving the ticket at s + p (tickets/.../sparsity{s+p}.safetensors). Snakemake wants every output
# of a rule to carry the same wildcards, and s and s + p are two values, so each level gets a rule of its own.

for level in STUDY.sparsities:

    rule:
        name:
            f"imp_round_{label(level)}"
        input:
            unpack(imp_round_input(level)),
        output:
            metrics=round_metrics("{task}", "{lang}", "{seed}", level),
            ticket=ticket_path(
                "{task}", "{lang}", "{seed}", level + STUDY.prune_percent
            ),
        log:
            log(f"imp/{{task}}/{{lang}}/seed{{seed}}/sparsity{label(level)}"),
        conda:
            "../../envs/subnets.yaml"
        threads: training_threads
        resources:
            gpu=training_resource("gpu", "gpu_per_job"),
            mem_mb=training_resource("mem_mb"),
            runtime=training_resource("runtime"),
        params:
            sparsity=level,
            training=training_params,
            options=task_options,
            prune_percent=STUDY.prune_percent,
            prune_from=STUDY.prune_from,
        script:
            "../scripts/imp_round.py"
