"""Speed measurements: `munch bench`, collections beside Flair, the cost of contextual embeddings."""
