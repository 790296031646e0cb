# Zero-shot probes of theta0 * mask (no fine-tuning): parallel sentence retrieval with LASER's ratio margin per
# layer (Fig. 7) and SVCCA / PWCCA between the reference language and the others per layer (Fig. 10).


rule probe:
    input:
        unpack(probe_input),
    output:
        probe_path("{kind}", "{subnetwork}"),
    log:
        log(f"probes/{{kind}}/{{subnetwork}}"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        spec=probe_params,
    script:
        "../scripts/probe.py"


rule retrieval_table:
    input:
        [probe_path("retrieval", s) for s in STUDY.probed_subnetworks("retrieval")],
    output:
        csv=report(
            table("retrieval"),
            caption="../report/retrieval_table.rst",
            category="Fig. 7: retrieval",
        ),
        md=table("retrieval", "md"),
    log:
        log("retrieval_table"),
    conda:
        "../../envs/subnets.yaml"
    params:
        subnetworks=STUDY.probed_subnetworks("retrieval"),
    script:
        "../scripts/probe_table.py"


rule cca_table:
    input:
        [probe_path("cca", s) for s in STUDY.probed_subnetworks("cca")],
    output:
        csv=report(
            table("cca"),
            caption="../report/cca_table.rst",
            category="Fig. 10: SVCCA and PWCCA",
        ),
        md=table("cca", "md"),
    log:
        log("cca_table"),
    conda:
        "../../envs/subnets.yaml"
    params:
        subnetworks=STUDY.probed_subnetworks("cca"),
    script:
        "../scripts/probe_table.py"
