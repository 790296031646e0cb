# theta0's source: a snapshot of a pre-trained model (hub id or local directory), or, for the demo, the toy
# chain: world -> WordPiece tokenizer -> tiny BERT pre-trained with MLM (or tiny mT5, with span corruption).


rule toy_world:
    output:
        directory(TOY_WORLD),
    log:
        f"{LOGS}/toy_world.log",
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
        f"{LOGS}/toy_tokenizer.log",
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


if USE_TOY_MODEL:

    rule pretrain_toy_model:
        input:
            world=TOY_WORLD,
            tokenizer=TOY_TOKENIZER,
        output:
            directory(MODEL_DIR),
        log:
            f"{LOGS}/pretrain_toy_model.log",
        conda:
            "../../envs/subnets.yaml"
        threads: pretraining_threads()
        resources:
            gpu=config["resources"]["gpu_per_job"],
            mem_mb=config["resources"]["mem_mb"],
            runtime=config["resources"]["runtime"],
        params:
            family=FAMILY,
            model=config["toy"]["model"],
        script:
            "../scripts/pretrain_toy_model.py"

else:

    rule prepare_model:
        output:
            directory(MODEL_DIR),
        log:
            f"{LOGS}/prepare_model.log",
        conda:
            "../../envs/subnets.yaml"
        threads: 1
        resources:
            mem_mb=8000,
            runtime=60,
        params:
            source=config["model"]["source"],
            family=FAMILY,
        script:
            "../scripts/prepare_model.py"
