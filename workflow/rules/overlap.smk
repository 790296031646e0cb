# Overlap per layer of the IMP masks at one sparsity (Fig. 3): every language pair of a task, the same
# language across seeds (upper bound) and the random expectation k / (2 - k).


rule overlap:
    input:
        overlap_masks,
    output:
        csv=table(f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}"),
        wide=table(f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}_by_layer"),
        md=table(
            f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}_by_layer",
            "md",
        ),
    log:
        log(f"overlap/{{task}}"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        languages=task_languages,
        seeds=list(STUDY.seeds),
        sparsity=STUDY.overlap_sparsity,
    script:
        "../scripts/overlap.py"
