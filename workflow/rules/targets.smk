# What `rule all` asks for, from the config's `targets` switches. Every training run is listed, not only the
# tables above it: Snakemake does not regenerate a missing intermediate file when everything downstream of it is
# present and up to date, so a deleted round or run would otherwise never come back.


def imp_round_targets():
    return [
        round_metrics(task, lang, seed, s)
        for task in TASKS
        for lang in STUDY.languages(task)
        for seed in STUDY.seeds
        for s in STUDY.sparsities
    ]


def mixture_round_targets():
    """The rounds of the multilingual chains up to the ticket of Table 1."""
    return [
        round_metrics(task, spec.mixture, seed, s)
        for task, spec in STUDY.multilingual.items()
        for seed in STUDY.transfer_seeds
        for s in range(0, spec.sparsity, STUDY.prune_percent)
    ]


def transfer_targets():
    return [
        train_metrics(task, target, seed, source, s)
        for task in TASKS
        for seed in STUDY.transfer_seeds
        for s in STUDY.transfer_sparsities
        for source in STUDY.languages(task)
        for target in STUDY.languages(task)
        if source != target
    ]


def random_targets():
    return [
        train_metrics(task, target, seed, N.RANDOM, s)
        for task in TASKS
        for seed in STUDY.transfer_seeds
        for s in STUDY.random_sparsities
        for target in STUDY.languages(task)
    ]


def figures(name):
    """Both formats of a figure, when plots are switched on."""
    return (
        [figure(name, ext) for ext in ("png", "pdf")] if STUDY.targets["plots"] else []
    )


def tables(name):
    return [table(name, ext) for ext in ("csv", "md")]


def all_targets():
    on, targets = STUDY.targets, []
    if on["imp"] or on["overlap"] or on["transfer"]:
        targets += imp_round_targets()
    if on["transfer"]:
        targets += transfer_targets()
    if on["imp"]:
        targets += random_targets() + tables("winning_tickets")
        for task in TASKS:
            targets += [
                table(f"{task}/sparsity_curve"),
                *figures(f"fig2_sparsity_{task}"),
            ]
    if on["overlap"]:
        for task in TASKS:
            targets += [
                table(f"{task}/overlap_sparsity{label(STUDY.overlap_sparsity)}"),
                *figures(f"fig3_overlap_{task}"),
            ]
    if on["transfer"]:
        for task in TASKS:
            for s in STUDY.transfer_sparsities:
                targets += [
                    table(f"{task}/transfer_sparsity{label(s)}"),
                    *figures(f"fig4_transfer_{task}_sparsity{label(s)}"),
                ]
        targets += [table("relative_transfer_drop"), *figures("fig6_relative_drop")]
    if on["repruned"]:
        targets += [
            t
            for task in TASKS
            for t in tables(
                f"{task}/repruned_baselines_sparsity{label(STUDY.repruned_sparsity)}"
            )
        ]
    if on["cross_task"]:
        targets += tables(f"cross_task_sparsity{label(STUDY.cross_task_sparsity)}")
        targets += figures(
            f"fig9_cross_task_sparsity{label(STUDY.cross_task_sparsity)}"
        )
    if on["mask_methods"]:
        s = label(STUDY.mask_methods_sparsity)
        for task in STUDY.method_tasks:
            targets += tables(f"{task}/mask_methods_sparsity{s}")
            found = study_paths(STUDY.ticket_methods_inputs(task))
            targets += found["masks"] + found["own"] + found["transfer"]
        targets += tables("ticket_methods") + tables("ticket_methods_summary")
        targets += figures("ticket_methods_cost_agreement")
    for probe, fig in (("retrieval", "fig7_retrieval"), ("cca", "fig10_cca")):
        if on[probe]:
            targets += tables(probe) + figures(fig)
    if on["imp"] and on["overlap"] and STUDY.uses_toy_world:
        targets += tables("phantom")
    if on["paper"]:
        targets += tables("paper_comparison")
    if on["multilingual"]:
        targets += mixture_round_targets()
        for task, spec in STUDY.multilingual.items():
            targets += tables(f"{task}/multilingual_sparsity{label(spec.sparsity)}")
    return targets
