"""One colour per entity type: the same in every output (HTML files, the service's page), whatever
the model, the heads chosen or the order in which types appear.

The entity types of the field's corpora get fixed colours from displaCy's palette (spaCy,
explosion/spaCy displacy/render.py), spelt any way (`Gene`, `GENE`, `cell_type`, `CellType`);
any other type gets a pale colour whose hue is a hash of its name (CRC-32), so it too is the same
everywhere, without a table to keep in step.
"""

from __future__ import annotations

import re
import zlib

KNOWN = {  # normalised type name -> colour
    "chemical": "#7aecec", "disease": "#feca74", "gene": "#bfeeb7", "geneorgeneproduct": "#bfeeb7",
    "protein": "#aa9cfc", "species": "#ff9561", "organism": "#ff9561", "celltype": "#c887fb", "cellline": "#9cc9cc",
    "dna": "#ffeb80", "rna": "#ff8197", "mutation": "#e4e7d2", "sequencevariant": "#e4e7d2", "variant": "#e4e7d2",
}
UNKNOWN = "#dddddd"  # a type of no name


def normalised(etype: str) -> str:
    return re.sub(r"[^a-z0-9]", "", etype.lower())


def type_colour(etype: str) -> str:
    """The colour of an entity type, everywhere."""
    key = normalised(etype)
    if not key:
        return UNKNOWN
    if key in KNOWN:
        return KNOWN[key]
    return f"hsl({zlib.crc32(key.encode('utf-8')) % 360}, 70%, 80%)"
