# Zero-shot probes of theta0 * mask (no fine-tuning): parallel sentence retrieval with LASER's ratio margin per
# layer (Fig. 7) and SVCCA / PWCCA between the reference language and the others per layer (Fig. 10).


rule probe:
    input:
        unpack(probe_input),
    output:
        f"{RESULTS}/probes/{{kind}}/{{subnetwork}}.csv",
    log:
        f"{LOGS}/probes/{{kind}}/{{subnetwork}}.log",
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
        [probe_path("retrieval", s) for s in retrieval_subnetworks()],
    output:
        csv=table("retrieval"),
        md=table("retrieval", "md"),
    log:
        f"{LOGS}/retrieval_table.log",
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        subnetworks=retrieval_subnetworks(),
    script:
        "../scripts/probe_table.py"


rule cca_table:
    input:
        [probe_path("cca", s) for s in cca_subnetworks()],
    output:
        csv=table("cca"),
        md=table("cca", "md"),
    log:
        f"{LOGS}/cca_table.log",
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        subnetworks=cca_subnetworks(),
    script:
        "../scripts/probe_table.py"
