"""How much contextual string embeddings slow training, epoch by epoch (docs/benchmarks.md).

    python3 -m munchables.bench.embeddings --corpus ncbi-disease --sentences 2000 --epochs 3 \\
        --charlm-forward lm-forward.pt --charlm-backward lm-backward.pt

Trains two taggers on the same batches, one without and one with the embeddings (memory cache),
their epochs interleaved (plain epoch 1, CSE epoch 1, plain epoch 2, ...) so that both meet the
same load on a shared machine, and prints each epoch's wall and CPU seconds and the ratio. Epoch
1 of the CSE tagger runs the language models on every sentence and fills the cache; later
epochs read it. Development-set evaluation is left out: only the training steps are timed.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from ..data.batching import Collator, Item, ShuffledPass
from ..data.corpus import default_data_dir, load_corpus
from ..pipeline import build_model
from ..settings import ModelConfig, RunOptions, TrainConfig
from ..trainer import train_step
from ..util.device import pick_device
from ..util.threads import set_threads


def epoch_seconds(model, collate, batches, device) -> tuple[float, float]:
    """(wall, CPU) seconds of one pass of SGD steps over `batches`."""
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    wall, cpu = time.perf_counter(), time.process_time()
    for items in batches:
        train_step(model, optimizer, collate(items).to(device))
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - wall, time.process_time() - cpu


def run(args) -> list[dict]:
    set_threads(args.threads)
    device = pick_device(args.device)
    corpus = load_corpus(args.corpus, default_data_dir(args.data_dir), args.sentences)
    models = {}
    for name, config in (("plain", ModelConfig(hidden=args.hidden)),
                         ("cse", ModelConfig(hidden=args.hidden, charlm_forward=args.charlm_forward,
                                             charlm_backward=args.charlm_backward,
                                             charlm_projection=args.charlm_projection))):
        model, vocab = build_model(RunOptions(target=corpus.name, model=config), [corpus])
        models[name] = (model.to(device), Collator(vocab, {corpus.name: corpus.train}))
    items = [Item(corpus.name, i) for i in range(len(corpus.train))]
    passes = ShuffledPass(items, args.batch_size, np.random.default_rng(0))
    rows = []
    for epoch in range(1, args.epochs + 1):
        batches = passes.epoch()
        row = {"epoch": epoch}
        for name, (model, collate) in models.items():
            row[f"{name}_wall_s"], row[f"{name}_cpu_s"] = epoch_seconds(model, collate, batches, device)
        row["wall_ratio"] = row["cse_wall_s"] / row["plain_wall_s"]
        row["cpu_ratio"] = row["cse_cpu_s"] / row["plain_cpu_s"]
        rows.append({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()})
        print(json.dumps(rows[-1]), flush=True)
    cse = models["cse"][0].encoder.features[0]
    print(json.dumps({"sentences": len(items), "cse_dim": cse.out_dim, "projection": args.charlm_projection, "lm_calls": cse.lm_calls,
                      "cache_hits": cse.cache.hits, "cache_misses": cse.cache.misses,
                      "threads": torch.get_num_threads(), "device": str(device), "torch": torch.__version__}))
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m munchables.bench.embeddings", description=__doc__.split("\n")[0])
    p.add_argument("--corpus", default="ncbi-disease")
    p.add_argument("--sentences", type=int, default=2000, help="training sentences")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--hidden", type=int, default=ModelConfig.hidden, help="tagger BiLSTM units per direction")
    p.add_argument("--charlm-forward", required=True)
    p.add_argument("--charlm-backward", required=True)
    p.add_argument("--charlm-projection", type=int, default=ModelConfig.charlm_projection,
                   help="see munch train --charlm-projection")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int)
    p.add_argument("--data-dir")
    run(p.parse_args(argv))


if __name__ == "__main__":
    main()
