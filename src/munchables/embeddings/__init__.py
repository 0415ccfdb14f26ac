"""Token features beyond the learned ones (README, Embeddings).

word_vectors.py reads a user's vector file; fasttext.py trains fastText vectors from local text;
charlm.py trains the character language models that contextual.py turns into contextual string
embeddings (Akbik et al. 2018); transformer.py takes a Hugging Face encoder's word vectors;
cache.py computes frozen features once per sentence; features.py builds them from a ModelConfig
and back from a saved tagger (each feature saving itself with spec / from_spec). What they cost a
training epoch is measured by ../bench_embeddings.py.
"""
