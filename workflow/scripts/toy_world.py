"""Write the toy multilingual world (hub-shaped JSON lines and a manifest)."""

import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821, SIM115 (snakemake is injected)

from subnets.toy import WorldConfig, write_world

world = dict(snakemake.params.world)  # noqa: F821
for key in ("languages", "sentences_per_doc"):
    if isinstance(world.get(key), list):
        world[key] = tuple(world[key])
manifest = write_world(snakemake.output[0], WorldConfig(**world))  # noqa: F821
print(f"toy world: languages {list(manifest['languages'])}, {len(manifest['files'])} files", file=sys.stderr)
