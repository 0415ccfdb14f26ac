"""Tagging with a trained model: the saved tagger, heads, documents, formats, collections, the service."""
