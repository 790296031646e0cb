# Overlap per layer of the IMP masks at one sparsity (Fig. 3): every language pair of a task, the same
# language across seeds (upper bound) and the random expectation k / (2 - k).


rule overlap:
    input:
        overlap_masks,
    output:
        csv=table(f"{{task}}/overlap_sparsity{sparsity_label(OVERLAP_SPARSITY)}"),
        wide=table(
            f"{{task}}/overlap_sparsity{sparsity_label(OVERLAP_SPARSITY)}_by_layer"
        ),
        md=table(
            f"{{task}}/overlap_sparsity{sparsity_label(OVERLAP_SPARSITY)}_by_layer",
            "md",
        ),
    log:
        f"{LOGS}/overlap/{{task}}.log",
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        languages=task_languages,
        seeds=SEEDS,
        sparsity=OVERLAP_SPARSITY,
    script:
        "../scripts/overlap.py"
