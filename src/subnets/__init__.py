"""Language-neutral sub-networks of multilingual language models.

Modules (one job each):
    masks     prunable weights, magnitude/random masks, bit-packed mask files, layer overlap
    theta0    the task model at its starting point (pre-trained body + seeded head) and its fingerprint
    training  the masked training loop (pruned weights held at zero) with peak selection, resumable
    resume    the resume state of a training run (safetensors + JSON, written atomically)
    devices   GPU placement for local runs: each job claims its own device
    imp       one round of iterative magnitude pruning
    tasks     task adapters (mlm, ner, nli): tokenisation, collators, metrics
    data      dataset loaders (hub or local files), schema checks, preparation
    toy       the offline toy multilingual world, its tokenizer and a tiny pre-trained BERT
    io        atomic file writes
"""

__version__ = "0.1.0"
