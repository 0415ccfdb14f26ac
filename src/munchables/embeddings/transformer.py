"""A Hugging Face transformer from a local folder as the shared encoder's token features.

Each word gets the vector of its first sub-word (Devlin et al. 2019, section 5.3, the
feature-based NER of BERT), from the last `layers` hidden layers concatenated. Frozen, the model
stays in eval mode without gradients and its vectors are cached per sentence like the
contextual string embeddings; fine-tuned, it trains with the tagger (Lee et al. 2020, BioBERT).
Sentences longer than the model's positions are cut, between words, into pieces that fit, each
encoded on its own; the pieces of a batch go through the model at most TRANSFORMER_CELLS
sub-words at a time, so memory is bounded whatever the text (a word of one letter per sub-word
is a piece of its own, truncated to the model's positions). A word that the tokenizer turns into no sub-word at all (a lone control
character) gets a zero vector.

`--transformer` takes a local folder holding the model's config.json, weights and tokenizer
files, as `save_pretrained` writes them, or a Hugging Face model id (`dmis-lab/biobert-base-cased-v1.2`),
fetched with huggingface_hub into its usual cache (HF_HOME, ~/.cache/huggingface) on first use
and read from there after, also offline. Only what a BERT-family encoder needs is fetched: the
JSON and vocabulary files and the safetensors weights (`pytorch_model.bin` only for a model that
has none; transformers reads it with torch's restricted loader).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..errors import UserError
from .cache import FeatureCache, pad

FOLDER = "transformer"  # beside model.pt in a saved tagger

INSTALL = "pip install transformers"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")  # what the hub accepts as a model id
FILES = ["*.json", "*.txt", "*.model", "*.safetensors"]  # config, tokenizer and weights; no other formats
BIN_WEIGHTS = "pytorch_model.bin"  # for models published before safetensors (BioBERT)
TRANSFORMER_CELLS = 2 ** 13  # sub-word positions (pieces x padded length) one call of the model reads


def _transformers():
    try:
        import transformers
    except ImportError:
        raise UserError(f"--transformer needs the transformers package: {INSTALL}") from None
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars on every load
    return transformers


def is_hub_id(name: str) -> bool:
    """Whether `name` is to be fetched: no such file or folder here, and shaped like a model id."""
    return not Path(name).exists() and bool(HUB_ID.fullmatch(name)) and ".." not in name


def check_name(name: str) -> None:
    """A local model folder, or a name that could be a hub id (fetched later), else a UserError."""
    if not is_hub_id(name):
        check_folder(name)


def resolve(name: str) -> Path:
    """The local folder of `--transformer NAME_OR_DIR`: the folder itself, or the hub model fetched."""
    if not is_hub_id(name):
        return check_folder(name)
    try:
        import huggingface_hub
        from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
    except ImportError:
        raise UserError(f"--transformer {name}: fetching a model from the Hugging Face hub needs huggingface_hub "
                        f"({INSTALL}); or pass a local folder") from None
    fix = (f"where you have internet access run `hf download {name} --local-dir DIR` (or save_pretrained) and pass "
           "--transformer DIR")
    try:
        folder = Path(huggingface_hub.snapshot_download(name, allow_patterns=FILES))
        if not any(folder.glob("*.safetensors")):
            folder = Path(huggingface_hub.snapshot_download(name, allow_patterns=[*FILES, BIN_WEIGHTS]))
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise UserError(f"--transformer {name}: no such model on the Hugging Face hub ({e.__class__.__name__}), "
                        "and no such local folder") from None
    except GatedRepoError:
        raise UserError(f"--transformer {name}: a gated model; accept its terms on huggingface.co and log in "
                        f"(hf auth login), or {fix}") from None
    except Exception as e:  # noqa: BLE001  offline, refused, timed out, a full disk: all end the same way
        if huggingface_hub.constants.HF_HUB_OFFLINE:
            reason = "HF_HUB_OFFLINE is set and it is not in the cache"
        else:
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
        raise UserError(f"--transformer {name}: no such folder here, and it could not be fetched from the Hugging Face "
                        f"hub ({reason}); {fix}") from None
    return check_folder(folder, f"the Hugging Face model {name} (fetched to {folder})")


def check_folder(path: str | Path, role: str = "transformer model folder") -> Path:
    """A folder with a config.json, or a UserError naming what is missing."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path}: {role} not found; expected a local folder with config.json, the weights "
                        "and the tokenizer files (what save_pretrained writes), or a Hugging Face model id")
    if not (path / "config.json").is_file():
        raise UserError(f"{path / 'config.json'}: missing; {path} does not look like a Hugging Face model folder")
    return path


def positions(model: nn.Module) -> int:
    """How many sub-words (special ones included) the model can read at once. The RoBERTa family
    (RoBERTa, XLM-R, CamemBERT, Longformer, ESM) numbers positions from `padding_idx + 1`, so of
    its max_position_embeddings (514 in RoBERTa) that many fewer are usable; its tokenizer says
    512 when its files name a model_max_length, but a folder that does not would have let a
    513-sub-word piece through, to an index error deep in the model."""
    n = getattr(model.config, "max_position_embeddings", None) or 512
    padding = getattr(getattr(model, "embeddings", None), "padding_idx", None)
    return n - (padding + 1) if isinstance(padding, int) else n


def load_tokenizer(path: Path):
    tf = _transformers()
    try:
        tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if getattr(tokenizer, "add_prefix_space", None) is False:  # byte-level BPE: words need their space
            tokenizer = tf.AutoTokenizer.from_pretrained(str(path), local_files_only=True, add_prefix_space=True)
    except Exception as e:
        raise UserError(f"{path}: cannot load the tokenizer ({e.__class__.__name__}: {e})") from None
    if not tokenizer.is_fast:
        raise UserError(f"{path}: the tokenizer has no fast (Rust) version, which mapping sub-words to "
                        "words needs; add its tokenizer.json to the folder")
    return tokenizer


class TransformerFeatures(nn.Module):
    """Token features (B, T, layers x hidden) from a transformer: each word's first sub-word."""

    kind = "transformer"  # in a saved tagger's feature specs

    def __init__(self, model: nn.Module, tokenizer, layers: int = 4, fine_tune: bool = False,
                 cache: FeatureCache | None = None):
        super().__init__()
        # float32 whatever the weights were saved in (transformers 5 keeps a checkpoint's float16 or
        # bfloat16, and builds a saved config's dtype): the tagger computes in float32, fine-tuning needs it
        model = model.float()
        n_layers = model.config.num_hidden_layers
        if not 1 <= layers <= n_layers:
            raise UserError(f"--transformer-layers {layers}: the model has {n_layers} layers; choose 1 to {n_layers}")
        self.model, self.tokenizer, self.layers, self.fine_tune = model, tokenizer, layers, fine_tune
        self.out_dim = layers * model.config.hidden_size
        self.cache = None if fine_tune else cache
        if not fine_tune:
            self.model.requires_grad_(False)
        self.max_length = min(tokenizer.model_max_length, positions(model))
        self.budget = self.max_length - tokenizer.num_special_tokens_to_add(pair=False)  # sub-words per piece

    @classmethod
    def from_folder(cls, path: str | Path, layers: int = 4, fine_tune: bool = False,
                    cache: FeatureCache | None = None) -> "TransformerFeatures":
        """A pretrained model and its tokenizer, from a local folder or a hub id (`resolve`)."""
        path = resolve(str(path))
        tokenizer = load_tokenizer(path)
        try:
            model = _transformers().AutoModel.from_pretrained(str(path), local_files_only=True)
        except Exception as e:
            raise UserError(f"{path}: cannot load the model ({e.__class__.__name__}: {e})") from None
        return cls(model, tokenizer, layers, fine_tune, cache)

    @classmethod
    def from_saved(cls, path: Path, layers: int, fine_tune: bool, cache=None) -> "TransformerFeatures":
        """The shape of a saved tagger's transformer (config and tokenizer); its weights come from the tagger."""
        path = check_folder(path, "the tagger's transformer folder (saved beside model.pt)")
        config = _transformers().AutoConfig.from_pretrained(str(path), local_files_only=True)
        model = _transformers().AutoModel.from_config(config)
        return cls(model, load_tokenizer(path), layers, fine_tune, cache)

    def save_files(self, path: Path) -> None:
        """The config and tokenizer files that `from_saved` needs (the weights go in model.pt)."""
        path.mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(str(path))
        self.tokenizer.save_pretrained(str(path))

    def spec(self, directory: Path) -> dict:
        """Writes the config and tokenizer into `directory`/transformer (the weights are in the
        tagger's state dict); what rebuilds this module at load time."""
        self.save_files(Path(directory) / FOLDER)
        return {"kind": self.kind, "folder": FOLDER, "layers": self.layers, "fine_tune": self.fine_tune}

    @classmethod
    def from_spec(cls, spec: dict, directory: Path, cache: FeatureCache | None = None) -> "TransformerFeatures":
        # The folder is always `directory`/transformer: a model file never names a path to read.
        if spec.get("folder") != FOLDER or not isinstance(spec.get("layers"), int) or "fine_tune" not in spec:
            raise UserError(f"{directory}: the model's transformer settings are damaged ({spec!r}); "
                            "expected the ones `munch train --transformer` writes")
        return cls.from_saved(Path(directory) / FOLDER, spec["layers"], bool(spec["fine_tune"]), cache)

    def train(self, mode: bool = True) -> "TransformerFeatures":
        super().train(mode)
        if not self.fine_tune:
            self.model.eval()  # frozen: no dropout, the same vectors every time
        return self

    def forward(self, batch) -> torch.Tensor:
        """The batch's word vectors (B, T, D), zero on padding."""
        device = batch.mask.device
        if self.cache is None:
            return self.embed(batch.tokens).to(device)  # (B, T, D)
        feats = self.cache.get_many(batch.tokens, self.embed_each)
        return pad(feats, device)  # (B, T, D)

    def embed_each(self, sentences: Sequence[Sequence[str]]) -> list[torch.Tensor]:
        """Each sentence's (n, D) word vectors."""
        return [f[: len(s)] for f, s in zip(self.embed(sentences).unbind(0), sentences)]

    def pieces(self, sentences: Sequence[Sequence[str]]) -> list[tuple[int, int, int]]:
        """(sentence, first word, end word): consecutive words whose sub-words fit the model, per sentence."""
        enc = self.tokenizer([list(s) for s in sentences], is_split_into_words=True, add_special_tokens=False)
        out = []
        for b, tokens in enumerate(sentences):
            counts = [0] * len(tokens)
            for w in enc.word_ids(b):
                if w is not None:
                    counts[w] += 1
            start, used = 0, 0
            for w, n in enumerate(counts):
                if used + n > self.budget and w > start:
                    out.append((b, start, w))
                    start, used = w, 0
                used += n
            out.append((b, start, len(tokens)))
        return out

    def embed(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        """(B, T, D): for each word, the last `layers` layers' states at its first sub-word."""
        with torch.set_grad_enabled(self.fine_tune and torch.is_grad_enabled()):
            return self._embed(sentences)

    def _embed(self, sentences: Sequence[Sequence[str]]) -> torch.Tensor:
        device = next(self.model.parameters()).device
        pieces = self.pieces(sentences)
        enc = self.tokenizer([list(sentences[b][i:j]) for b, i, j in pieces], is_split_into_words=True,
                             padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
        B, T = len(sentences), max(len(s) for s in sentences)
        feats = None  # (B, T, D), made with the first call's dtype
        index = lambda xs: torch.tensor(xs, dtype=torch.long, device=device)  # noqa: E731
        per_call = max(1, TRANSFORMER_CELLS // enc["input_ids"].shape[1])
        for c0 in range(0, len(pieces), per_call):  # bounded memory: at most TRANSFORMER_CELLS sub-words per call
            c1 = min(c0 + per_call, len(pieces))
            inputs = {k: v[c0:c1] for k, v in enc.items()}
            if c1 - c0 < len(pieces):  # several calls: each padded to its own longest piece
                longest = int(inputs["attention_mask"].sum(1).max())
                inputs = {k: v[:, :longest] for k, v in inputs.items()}
            out = self.model(**{k: v.to(device) for k, v in inputs.items()}, output_hidden_states=True)
            h = torch.cat(out.hidden_states[-self.layers :], dim=-1)  # (p, S, D)
            rows, cols, src_p, src_s = [], [], [], []
            for p in range(c0, c1):
                b, i, _ = pieces[p]
                seen = set()
                for s, w in enumerate(enc.word_ids(p)):
                    if w is not None and w not in seen:  # the word's first sub-word
                        seen.add(w)
                        rows.append(b), cols.append(i + w), src_p.append(p - c0), src_s.append(s)
            if feats is None:
                feats = h.new_zeros(B, T, self.out_dim)  # (B, T, D)
            feats = feats.index_put((index(rows), index(cols)), h[index(src_p), index(src_s)])  # (B, T, D)
        return feats
