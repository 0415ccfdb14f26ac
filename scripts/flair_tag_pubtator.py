"""Flair's side of the tagging scale benchmark (docs/benchmarks.md): PubTator files in, PubTator out,
end to end with Flair's own pieces, in a Python that has flair (not munchables):

    python3 -m venv /tmp/flairenv && /tmp/flairenv/bin/pip install torch==2.13.0 flair
    /tmp/flairenv/bin/python scripts/flair_tag_pubtator.py --input /tmp/abstracts --out /tmp/flair.pubtator --threads 1

Each document's title and abstract are split into sentences by Flair's SegtokSentenceSplitter
(offsets kept), tagged by `SequenceTagger.predict(mini_batch_size=...)` and each span written
as a PubTator line. The tagger has munchables' paper sizes, untrained (tagging speed does not
depend on the weights; no model is downloaded): one-hot word embeddings of 100 over the
collection's words, character embeddings (25 + 25), BiLSTM 256, CRF, as `munch bench --collection`
builds it. Prints documents/s and sentences/s as JSON.
"""

import argparse
import json
import time
from pathlib import Path

import torch
from flair.data import Dictionary
from flair.embeddings import CharacterEmbeddings, OneHotEmbeddings, StackedEmbeddings
from flair.models import SequenceTagger
from flair.splitter import SegtokSentenceSplitter


def documents(paths):
    for path in paths:
        doc = None
        for line in open(path, encoding="utf-8"):
            parts = line.rstrip("\n").split("|", 2)
            if len(parts) == 3 and parts[1] == "t":
                doc = [parts[0], parts[2]]
            elif len(parts) == 3 and parts[1] == "a":
                yield doc[0], doc[1], parts[2]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--chunk", type=int, default=256, help="documents split and tagged together")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    paths = sorted(Path(args.input).glob("*.pubtator")) if Path(args.input).is_dir() else [Path(args.input)]
    words, chars, tags = Dictionary(), Dictionary(), Dictionary(add_unk=False)
    for _, title, abstract in documents(paths):  # the vocabulary (not timed)
        for token in (title + " " + abstract).split():
            words.add_item(token)
            for ch in token:
                chars.add_item(ch)
    for tag in ("O", "S-X", "B-X", "I-X", "E-X"):
        tags.add_item(tag)
    torch.manual_seed(0)
    embeddings = StackedEmbeddings([OneHotEmbeddings(words, embedding_length=100), CharacterEmbeddings(chars)])
    tagger = SequenceTagger(embeddings=embeddings, tag_dictionary=tags, tag_type="ner", hidden_size=256, use_crf=True)
    tagger.eval()
    splitter = SegtokSentenceSplitter()
    start, cpu = time.perf_counter(), time.process_time()
    n_docs = n_sentences = 0
    with open(args.out, "w", encoding="utf-8") as out:
        batch = []

        def flush():
            nonlocal n_sentences
            sentences = [(i, offset, s) for i, t, a in batch
                         for offset, text in ((0, t), (len(t) + 1, a)) for s in splitter.split(text)]
            tagger.predict([s for _, _, s in sentences], mini_batch_size=args.batch_size)
            n_sentences += len(sentences)
            for i, t, a in batch:
                out.write(f"{i}|t|{t}\n{i}|a|{a}\n")
                for j, offset, s in sentences:
                    if j == i:
                        for span in s.get_spans("ner"):
                            b, e = offset + s.start_position + span.start_position, offset + s.start_position + span.end_position
                            out.write(f"{i}\t{b}\t{e}\t{span.text}\t{span.tag}\n")
                out.write("\n")
            batch.clear()

        for doc in documents(paths):
            batch.append(doc)
            n_docs += 1
            if len(batch) == args.chunk:
                flush()
        flush()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"tool": "flair", "threads": args.threads, "documents": n_docs, "sentences": n_sentences,
                      "seconds": round(seconds, 1), "documents_per_s": round(n_docs / seconds, 1),
                      "documents_per_cpu_s": round(n_docs / cpu_seconds, 1)}))


if __name__ == "__main__":
    main()
