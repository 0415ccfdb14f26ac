"""`munch bench`: training and tagging sentences per second on one corpus for the current device.

Model as in the paper's baseline: character BiLSTM features plus 100-d word embeddings, a BiLSTM
of `--hidden` units per direction, one CRF head. Training is timed over shuffled batches of
`--batch-size` (the paper's 32), tagging over length-sorted batches of `--tag-batch-size`.
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np
import torch

from ..data.batching import Collator, Item, ShuffledPass
from ..data.corpus import default_data_dir, load_corpus
from ..errors import UserError
from ..pipeline import build_model
from ..settings import ModelConfig, RunOptions
from ..tagging.tagger import decode
from ..trainer import train_step
from ..util.device import pick_device
from ..util.progress import Progress
from ..util.threads import set_threads


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_bench(args) -> dict:
    if min(args.batch_size, args.tag_batch_size, args.hidden, args.sentences) < 1:
        raise UserError("--batch-size, --tag-batch-size, --hidden and --sentences must be at least 1")
    set_threads(args.threads)
    device = pick_device(args.device)
    corpus = load_corpus(args.corpus, default_data_dir(args.data_dir))
    options = RunOptions(target=corpus.name, model=ModelConfig(hidden=args.hidden))
    model, vocab = build_model(options, [corpus])
    model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    collate = Collator(vocab, {corpus.name: corpus.train})
    items = [Item(corpus.name, i) for i in range(min(args.sentences, len(corpus.train)))]
    batches = ShuffledPass(items, args.batch_size, np.random.default_rng(0)).epoch()

    for b in batches[:3]:  # warm-up
        train_step(model, optimizer, collate(b).to(device))
    _sync(device)
    # progress on the long parts (a bar on a terminal, a line every 30 s in a log): on a busy CPU the
    # default run can take minutes; drawing it costs far less than one update
    bar = Progress(len(items), unit=" sentence", label=f"bench: training on {corpus.name}")
    t0 = time.perf_counter()
    for b in batches:
        train_step(model, optimizer, collate(b).to(device))
        bar.step(n=len(b))
    _sync(device)
    train_rate = len(items) / (time.perf_counter() - t0)
    bar.close()

    sentences = [s.tokens for s in corpus.dev]
    decode(model, collate, corpus.name, sentences[:512], device, args.tag_batch_size)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    decode(model, collate, corpus.name, sentences, device, args.tag_batch_size,
           Progress(len(sentences), unit=" sentence", label=f"bench: tagging {corpus.name} dev"))
    _sync(device)
    tag_rate = len(sentences) / (time.perf_counter() - t0)

    result = {
        "corpus": corpus.name, "device": str(device),
        "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
        "batch_size": args.batch_size, "hidden": args.hidden,
        "train_sentences_per_s": round(train_rate, 1), "tag_sentences_per_s": round(tag_rate, 1),
        "tag_batch_size": args.tag_batch_size, "torch": torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{corpus.name} on {device} ({result['threads']} threads, torch {torch.__version__}): "
              f"training {train_rate:,.0f} sentences/s at batch {args.batch_size}; "
              f"tagging {tag_rate:,.0f} sentences/s at batch {args.tag_batch_size}")
    return result
