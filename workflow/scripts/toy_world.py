"""Write the toy multilingual world (hub-shaped JSON lines and a manifest)."""

from subnets.job import start

job = start(snakemake)  # noqa: F821 (snakemake is injected)

from subnets.toy import WorldConfig, write_world

world = dict(snakemake.params.world)  # noqa: F821
for key in ("languages", "sentences_per_doc"):
    if isinstance(world.get(key), list):
        world[key] = tuple(world[key])
manifest = write_world(snakemake.output[0], WorldConfig(**world))  # noqa: F821
job.log(f"toy world: languages {list(manifest['languages'])}, {len(manifest['files'])} files")
