# theta0's source: a snapshot of a pre-trained model (hub id or local directory), or, for the demo, the toy
# chain: world -> WordPiece tokenizer -> the tiny model of model.family: BERT or XLM-R pre-trained with MLM, a
# Llama with causal LM, an mT5 with span corruption.


rule toy_world:
    output:
        directory(TOY_WORLD),
    log:
        log("toy_world"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        world=config["toy"]["world"],
    script:
        "../scripts/toy_world.py"


rule toy_tokenizer:
    input:
        world=TOY_WORLD,
    output:
        directory(TOY_TOKENIZER),
    log:
        log("toy_tokenizer"),
    conda:
        "../../envs/subnets.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        tokenizer=config["toy"]["tokenizer"],
    script:
        "../scripts/toy_tokenizer.py"


if STUDY.use_toy_model:

    rule pretrain_toy_model:
        input:
            world=TOY_WORLD,
            tokenizer=TOY_TOKENIZER,
        output:
            directory(MODEL_DIR),
        log:
            log("pretrain_toy_model"),
        conda:
            "../../envs/subnets.yaml"
        threads: config["toy"]["threads"]
        resources:
            gpu=config["resources"]["gpu_per_job"],
            mem_mb=config["resources"]["mem_mb"],
            runtime=config["resources"]["runtime"],
        params:
            family=STUDY.family,
            model=config["toy"]["model"],
        script:
            "../scripts/pretrain_toy_model.py"

else:

    rule prepare_model:
        output:
            directory(MODEL_DIR),
        log:
            log("prepare_model"),
        conda:
            "../../envs/subnets.yaml"
        threads: 1
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            source=config["model"]["source"],
            family=STUDY.family,
            revision=config["model"]["revision"],
        script:
            "../scripts/prepare_model.py"
