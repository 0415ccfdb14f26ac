"""MEDLINE/PubMed XML as NLM distributes it (the baseline and update files, ``pubmed25n0001.xml.gz``): read only.

A file is a ``<PubmedArticleSet>`` of ``<PubmedArticle>`` (and ``<PubmedBookArticle>``) elements (and, in update files,
``<DeleteCitation>`` lists of PMIDs to remove, which are no documents: they are counted in a log
line). Each article becomes a document laid out as PubTator lays out an abstract, so that the
offsets agree with PubTator's and PubTator3's for the same PMID:

    id        MedlineCitation/PMID
    title     Article/ArticleTitle, at offset 0, infons {"type": "title"}
    abstract  Article/Abstract/AbstractText, at offset len(title) + 1, infons {"type": "abstract"}

Inline markup (``<i>``, ``<sup>``, ``<sub>``, ``<b>``, MathML) is dropped and its text kept, as
PubMed's own text views do. A structured abstract has one AbstractText per section with a
``Label`` attribute (``BACKGROUND``, ``METHODS``, ...); the sections are joined with one space,
each written ``LABEL: text``, which is how PubTator shows them (the BC5CDR abstracts read
``BACKGROUND: ... METHODS: ...``). An article without an abstract has a title passage only.

Read with lxml's iterparse, one article at a time, each cleared (and its predecessors removed)
once read: memory stays bounded by one article for a baseline file of 30,000. The parser loads no
DTD (NLM's files name one at dtd.nlm.nih.gov: it is never fetched), resolves no entities and
reaches no network, the same protections as the BioC reader (bioc_format.py). Gzip (``.xml.gz``)
is opened by collection.py before the reader sees the stream.
"""

from __future__ import annotations

import logging
from typing import BinaryIO, Iterator

from lxml import etree

from ..errors import UserError
from .documents import Document, Passage
from .offsets import CODE_POINTS

log = logging.getLogger("munchables")


def _flat(elem) -> str:
    """An element's text with its inline markup dropped (the text of every descendant, in order)."""
    for child in elem.iter():
        if isinstance(child, etree._Entity):
            raise UserError(f"an entity reference ({child.text}) that this reader does not expand")
    return "".join(elem.itertext())


def _abstract(article) -> str:
    sections = []
    for a in article.findall("Abstract/AbstractText"):
        text = _flat(a).strip()
        label = a.get("Label")
        sections.append(f"{label}: {text}" if label else text)
    return " ".join(s for s in sections if s)


def _document(elem, name: str) -> Document:
    """A PubmedArticle (MedlineCitation/PMID, Article/ArticleTitle, Article/Abstract) or a PubmedBookArticle
    (BookDocument/PMID, its ArticleTitle or else Book/BookTitle, its Abstract)."""
    book = elem.tag == "PubmedBookArticle"
    citation = elem.find("BookDocument" if book else "MedlineCitation")
    pmid = citation.findtext("PMID") if citation is not None else None
    if not pmid:
        raise UserError(f"{name}: a {elem.tag} without {'BookDocument' if book else 'MedlineCitation'}/PMID")
    where = f"{name}: PMID {pmid}"
    try:
        article = citation if book else citation.find("Article")
        heading = None if article is None else article.find("ArticleTitle")
        if heading is None and book:
            heading = citation.find("Book/BookTitle")
        title = _flat(heading) if heading is not None else ""
        abstract = _abstract(article) if article is not None else ""
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    passages = [Passage(title, 0, {"type": "title"})]
    if abstract:
        passages.append(Passage(abstract, len(title) + 1, {"type": "abstract"}))
    return Document(pmid.strip(), passages)


def read_medline(stream: BinaryIO, name: str, offsets: str = CODE_POINTS) -> Iterator[Document]:
    """Documents of a PubmedArticleSet (offsets has nothing to convert here: the input has none)."""
    deleted = 0
    context = etree.iterparse(stream, events=("end",), tag=("PubmedArticle", "PubmedBookArticle", "DeleteCitation"),
                              resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
                              remove_comments=True, remove_pis=True)
    try:
        for _, elem in context:
            if elem.tag == "DeleteCitation":
                deleted += len(elem.findall("PMID"))
            else:
                yield _document(elem, name)
            elem.clear()
            parent = elem.getparent()
            while parent is not None and elem.getprevious() is not None:  # bounded memory: drop what is done
                del parent[0]
    except etree.XMLSyntaxError as e:
        raise UserError(f"{name}: not MEDLINE/PubMed XML (XML error: {e})") from None
    root = getattr(context, "root", None)
    if root is not None and root.tag not in ("PubmedArticleSet", "PubmedBookArticleSet"):
        raise UserError(f"{name}: not MEDLINE/PubMed XML (its root element is <{root.tag}>, not <PubmedArticleSet>)")
    if deleted:
        log.info("%s: %d PMIDs listed under DeleteCitation (deletions for a local copy, not documents to tag)", name,
                 deleted)
