# Overlap per layer of the IMP tickets at one sparsity (Fig. 3): every language pair of a task across seeds (and
# same seed apart), the same language across seeds (upper bound), the random expectation k / (2 - k), intervals
# over seed pairs, and the per-layer permutation test of "cross-language overlap lies below the bound".


rule overlap:
    input:
        overlap_masks,
    output:
        csv=report(
            table(f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}"),
            caption="../report/overlap_table.rst",
            category="Fig. 3: overlap",
        ),
        wide=table(f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}_by_layer"),
        md=table(
            f"{{task}}/overlap_sparsity{label(STUDY.overlap_sparsity)}_by_layer",
            "md",
        ),
        bound=report(
            table(f"{{task}}/overlap_bound_sparsity{label(STUDY.overlap_sparsity)}"),
            caption="../report/overlap_bound.rst",
            category="Fig. 3: overlap",
        ),
        bound_md=table(
            f"{{task}}/overlap_bound_sparsity{label(STUDY.overlap_sparsity)}", "md"
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
