"""Token features beyond the learned ones: pretrained word vectors (and, later, language models)."""
