"""`munch bench --collection`: tagging the raw text of every corpus end to end, beside Flair on the same text.

The text is every distinct sentence of every split of the corpora found, tokens joined by spaces,
one per line, shuffled with a fixed seed (`--limit N` keeps the first N). munchables reads it as
plain text (a document per line), tokenises, tags with the target head and then with every head
(one encoder pass for all), and writes JSONL into memory: documents/s and sentences/s of the
whole path. With `--quantize` it also tags with the LSTMs quantised to int8. When `flair` is
importable, Flair's `SequenceTagger.predict` tags the same lines (its own segtok tokeniser, the
same sizes: character BiLSTM 25+25, 100-d word embeddings, BiLSTM 256, CRF), untrained like
ours: tagging speed does not depend on the weights. No Flair model is downloaded.
"""

from __future__ import annotations

import io
import json
import logging
import platform
import random
import time

import torch

from ..data.corpus import available_corpora, default_data_dir, load_corpus
from ..data.documents import Document
from ..errors import UserError
from ..pipeline import build_model
from ..settings import ModelConfig, RunOptions
from ..tagging.collection import Output
from ..tagging.tagger import Tagger
from ..util.device import pick_device


def collection_lines(data_dir, limit: int | None = None, seed: int = 0) -> tuple[list[str], list]:
    names = available_corpora(data_dir)
    if not names:
        raise UserError(f"no corpora found in {data_dir}; the collection benchmark tags their text (--data-dir)")
    corpora = [load_corpus(n, data_dir) for n in names]
    lines = list(dict.fromkeys(" ".join(s.tokens) for c in corpora for split in ("train", "dev", "test")
                               for s in c.split(split)))
    random.Random(seed).shuffle(lines)
    return lines[:limit] if limit else lines, corpora


def time_munch(tagger: Tagger, lines: list[str], heads: str, batch_size: int) -> dict:
    docs = [Document.of_text(line, str(i)) for i, line in enumerate(lines)]
    out = Output(None, "jsonl", tagger.heads(heads), tagger.types(heads))
    out.file = io.BytesIO()  # into memory: the writing is timed, not the disk
    sentences = entities = 0
    start, cpu = time.perf_counter(), time.process_time()
    for tagged in tagger.stream(docs, heads, "all", batch_size):
        out.write(tagged)
        sentences += tagged.sentences
        entities += len(tagged.entities)
    return _rates(start, cpu, len(lines), sentences) | {"entities": entities}


def _rates(start: float, cpu: float, lines: int, sentences: int) -> dict:
    """Rates by wall time and by this process's CPU time (steadier on a shared machine, with one thread)."""
    seconds = max(time.perf_counter() - start, 1e-9)  # never 0: a tiny --limit may take no measurable time
    cpu_seconds = max(time.process_time() - cpu, 1e-9)
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2), "lines": lines, "sentences": sentences,
            "lines_per_s": round(lines / seconds, 1), "sentences_per_s": round(sentences / seconds, 1),
            "lines_per_cpu_s": round(lines / cpu_seconds, 1)}


def time_flair(lines: list[str], corpus, batch_size: int) -> dict | None:
    try:  # optional: only for the comparison
        from flair.data import Dictionary, Sentence
        from flair.embeddings import CharacterEmbeddings, OneHotEmbeddings, StackedEmbeddings
        from flair.models import SequenceTagger
    except ImportError:
        return None
    import flair  # optional, see above

    logging.getLogger("flair").setLevel(logging.WARNING)  # it logs the whole one-hot vocabulary
    words, chars, tags = Dictionary(), Dictionary(), Dictionary(add_unk=False)
    for s in corpus.train:
        for token in s.tokens:
            words.add_item(token)
            for ch in token:
                chars.add_item(ch)
    for tag in ("O", "S-X", "B-X", "I-X", "E-X"):
        tags.add_item(tag)
    torch.manual_seed(0)
    embeddings = StackedEmbeddings([OneHotEmbeddings(words, embedding_length=100), CharacterEmbeddings(chars)])
    tagger = SequenceTagger(embeddings=embeddings, tag_dictionary=tags, tag_type="ner", hidden_size=ModelConfig.hidden, use_crf=True)
    tagger.eval()
    start, cpu = time.perf_counter(), time.process_time()
    sentences = [Sentence(line) for line in lines]
    tagger.predict(sentences, mini_batch_size=batch_size)
    return _rates(start, cpu, len(lines), len(lines)) | {"flair": flair.__version__}


def run_collection_bench(args) -> dict:
    if args.limit is not None and args.limit < 1:
        raise UserError("--limit must be at least 1")
    device = pick_device(args.device)
    data_dir = default_data_dir(args.data_dir)
    lines, corpora = collection_lines(data_dir, args.limit)
    if args.model:
        tagger = Tagger.load(args.model, device)
    else:  # the paper's sizes, one head per corpus found, untrained
        options = RunOptions(target=corpora[0].name, model=ModelConfig(hidden=args.hidden))
        model, vocab = build_model(options, corpora)
        tagger = Tagger(model, vocab, corpora[0].name, device)
    tagger.predict(lines[:256], heads="all")  # warm-up
    result = {"sentences_in": len(lines), "device": str(device), "threads": torch.get_num_threads(),
              "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
              "heads": len(tagger.corpora), "batch_size": args.tag_batch_size,
              "one_head": time_munch(tagger, lines, "target", args.tag_batch_size),
              "all_heads": time_munch(tagger, lines, "all", args.tag_batch_size)}
    if args.quantize:
        tagger.quantize()
        result["one_head_int8"] = time_munch(tagger, lines, "target", args.tag_batch_size)
        result["all_heads_int8"] = time_munch(tagger, lines, "all", args.tag_batch_size)
    flair_limit = args.flair_limit or len(lines)
    result["flair"] = None if args.no_flair else time_flair(lines[:flair_limit], corpora[0], args.tag_batch_size)
    if args.json:
        print(json.dumps(result))
    else:
        one, every = result["one_head"], result["all_heads"]
        print(f"{len(lines):,} lines of {len(corpora)} corpora on {device} ({result['threads']} threads), lines/s "
              f"(by wall time; by CPU time): one head {one['lines_per_s']:,.0f}; {one['lines_per_cpu_s']:,.0f}, "
              f"all {result['heads']} heads {every['lines_per_s']:,.0f}; {every['lines_per_cpu_s']:,.0f} "
              # the same lines: the CPU seconds' ratio, unrounded
              f"({one['lines_per_cpu_s'] / every['lines_per_cpu_s']:.2f}x the CPU time)")
        for name in ("one_head_int8", "all_heads_int8"):
            if name in result:
                print(f"  {name}: {result[name]['lines_per_s']:,.0f}; {result[name]['lines_per_cpu_s']:,.0f} lines/s")
        flair_result = result["flair"]
        if flair_result is None:
            print("  Flair: not importable (pip install torch==2.13.0 flair) or --no-flair" if not args.no_flair else "")
        else:
            print(f"  Flair {flair_result['flair']} SequenceTagger.predict on {flair_result['lines']:,} of them: "
                  f"{flair_result['lines_per_s']:,.0f}; {flair_result['lines_per_cpu_s']:,.0f} lines/s; munchables "
                  f"one head is {one['lines_per_cpu_s'] / flair_result['lines_per_cpu_s']:.1f}x by CPU time")
    return result
