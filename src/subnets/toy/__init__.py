"""The offline toy multilingual world: generated languages, hub-shaped datasets and a WordPiece tokenizer.

No model or dataset can be downloaded where the demo runs, so the pipeline builds its own small world,
deterministically from a seed (see DESIGN.md, "The embedded default"):

    config     WorldConfig: seed, languages, sizes
    grammar    the shared abstract grammar (entities, verbs, clauses) and its sampler
    languages  the nine toy languages (t0..t8, t8 the pivot's clone): typology, scripts, vocabularies, realisation
    semantics  NLI labels computed from abstract sentences
    nli        construction of label-balanced NLI items without shallow cues
    corpora    MLM documents, NER sentences, parallel sentences and their hub-schema rows
    world      build_world / write_world: everything on disk as JSON lines plus a manifest
    tokenizer  a WordPiece tokenizer trained on the world's MLM text
    cli        the ``subnets-toy`` command
"""

from subnets.toy.config import WorldConfig
from subnets.toy.world import build_world, write_world

__all__ = ["WorldConfig", "build_world", "write_world"]
