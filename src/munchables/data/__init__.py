"""Corpora in: where they come from, fetching, reading, tokenising, vocabularies and batches."""
