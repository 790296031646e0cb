# Raw data (hub, local files or the toy world) -> subsample -> tokenise once -> resources/{study}/data/{task}/{lang}.


rule prepare_data:
    input:
        unpack(prepare_data_input),
    output:
        directory(f"{RESOURCES}/data/{{task}}/{{lang}}"),
    log:
        log(f"prepare_data/{{task}}/{{lang}}"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        data=data_params,
        options=task_options,
    script:
        "../scripts/prepare_data.py"


rule mix_data:
    input:
        unpack(mixture_input),
    output:
        directory(f"{RESOURCES}/data/{{task}}/mixtures/{{mixture}}"),
    log:
        log(f"mix_data/{{task}}/{{mixture}}"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        data=data_params,
    script:
        "../scripts/mix_data.py"
