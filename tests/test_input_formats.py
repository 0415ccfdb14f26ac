"""The field's document formats as published: read, kept, written back exactly (issue 26 items 1-6, 10; issue 25.1)."""

import gzip
import io
import json
import logging
from dataclasses import replace

import pytest
from bioc import biocjson, biocxml

from munchables.data.detect import choose
from munchables.data.documents import entity, mark
from munchables.data.formats import OUTPUT_FORMATS, READERS
from munchables.data.tokenize import tokenize
from munchables.errors import UserError
from munchables.tagging.collection import read_inputs


def read(fmt, data, **options):
    data = data.encode("utf-8") if isinstance(data, str) else data
    return list(READERS[fmt](io.BytesIO(data), "in", **options))


def write(fmt, docs, found=None, **options):
    spec = OUTPUT_FORMATS[fmt]
    found = found or [[] for _ in docs]
    parts = [spec.header([], docs[0].collection if docs else None)]
    for i, (doc, f) in enumerate(zip(docs, found)):
        parts.append(("" if i == 0 else spec.separator) + spec.document(doc, f, [], **options))
    return "".join(parts) + spec.footer


# NCBI-disease's PubTator release (NCBItestset_corpus.txt): title, abstract, six-column mention lines
NCBI = (
    "9949209|t|Aspirin and fever in familial adenomatous polyposis.\n"
    "9949209|a|Germline mutations of the APC gene cause familial adenomatous polyposis and colorectal cancer.\n"
    "9949209\t21\t51\tfamilial adenomatous polyposis\tSpecificDisease\tD011125\n"
    "9949209\t94\t124\tfamilial adenomatous polyposis\tSpecificDisease\tD011125\n"
    "9949209\t129\t146\tcolorectal cancer\tDiseaseClass\tD015179\n"
    "\n"
    "9949210|t|Asthma after caffeine.\n"
    "9949210|a|No asthma was seen in 12 patients with heart failure.\n"
    "9949210\t0\t6\tAsthma\tSpecificDisease\tD001249\n"
    "9949210\t26\t32\tasthma\tSpecificDisease\tD001249\n"
    "9949210\t62\t75\theart failure\tDiseaseClass\tD006333|D006331\n"
    "\n"
)
# BC5CDR's (CDR_TestSet.PubTator.txt): MeSH ids, a composite mention with a seventh column, CID relation lines
CDR = (
    "227508|t|Naloxone reverses the antihypertensive effect of clonidine.\n"
    "227508|a|In rats the fall in blood pressure produced by clonidine was reversed by naloxone.\n"
    "227508\t0\t8\tNaloxone\tChemical\tD009270\n"
    "227508\t49\t58\tclonidine\tChemical\tD003000\n"
    "227508\t80\t94\tblood pressure\tDisease\t-1\n"
    "227508\t107\t116\tclonidine\tChemical\tD003000\n"
    "227508\t133\t141\tnaloxone\tChemical\tD009270\n"
    "227508\tCID\tD003000\tD007022\n"
    "\n"
    "354896|t|Lidocaine-induced cardiac asystole.\n"
    "354896|a|Intravenous lidocaine caused cardiac and renal failure.\n"
    "354896\t0\t9\tLidocaine\tChemical\tD008012\n"
    "354896\t18\t34\tcardiac asystole\tDisease\tD006323\n"
    "354896\t65\t90\tcardiac and renal failure\tDisease\tD006333|D051437\theart failure|renal failure\n"
    "354896\tCID\tD008012\tD006323\n"
    "354896\tCID\tD008012\tD051437\n"
    "\n"
)


@pytest.mark.parametrize("published", [NCBI, CDR])
def test_pubtator_as_published_reads_and_writes_back_byte_for_byte(published):
    docs = read("pubtator", published)
    assert write("pubtator", docs) == published
    for d in docs:
        joined = " ".join(p.text for p in d.passages)
        assert all(joined[e["start"]:e["end"]] == e["text"] for e in d.entities)


def test_pubtator_relations_and_concept_ids_are_kept():
    cdr = read("pubtator", CDR)
    assert [len(d.entities) for d in cdr] == [5, 3] and [len(d.relations) for d in cdr] == [1, 2]
    assert cdr[0].relations[0] == {"id": None, "infons": {"type": "CID", "arg1": "D003000", "arg2": "D007022"},
                                   "nodes": []}
    assert cdr[1].entities[2]["infons"] == {"identifier": "D006333|D051437", "column7": "heart failure|renal failure"}


@pytest.mark.parametrize("fmt", ["jsonl", "bioc-xml", "bioc-json"])
def test_what_came_in_survives_every_annotated_format(fmt):
    """Gold annotations (concept ids, composite columns) and relations through jsonl and BioC and back to PubTator."""
    docs = read("pubtator", CDR)
    back = read(fmt, write(fmt, docs))
    strip = lambda es: [{k: v for k, v in e.items() if k != "id"} for e in es]  # noqa: E731  BioC gives every annotation an id
    assert [strip(d.entities) for d in back] == [d.entities for d in docs]
    assert [d.relations for d in back] == [d.relations for d in docs]
    assert write("pubtator", back) == CDR


BIOC_XML = """<?xml version='1.0' encoding='UTF-8'?>
<!DOCTYPE collection SYSTEM 'BioC.dtd'>
<collection><source>BioCreative V CDR</source><date>2015</date><key>cdr.key</key><infon key="corpus">test</infon>
<document><id>227508</id><infon key="journal">Eur J Pharmacol</infon>
<passage><infon key="type">title</infon><offset>0</offset><text>Naloxone reverses clonidine.</text>
<annotation id="0"><infon key="MESH">D009270</infon><infon key="type">Chemical</infon><location offset="0" length="8"/><text>Naloxone</text></annotation>
<annotation id="1"><infon key="MESH">D003000</infon><infon key="type">Chemical</infon><location offset="18" length="9"/><text>clonidine</text></annotation>
</passage>
<passage><infon key="type">abstract</infon><offset>29</offset>
<sentence><offset>29</offset><text>Caffeine caused fever.</text>
<annotation id="2"><infon key="type">Disease</infon><location offset="45" length="5"/><text>fever</text></annotation></sentence>
<sentence><offset>52</offset><infon key="n">2</infon><text>No heart failure was seen.</text>
<annotation id="3"><infon key="type">Disease</infon><location offset="55" length="5"/><location offset="61" length="7"/><text>heart failure</text></annotation></sentence>
</passage>
<relation id="R0"><infon key="relation">CID</infon><infon key="Chemical">D003000</infon><infon key="Disease">D006333</infon></relation>
<relation id="R1"><infon key="type">x</infon><node refid="0" role="Chemical"/><node refid="2" role="Disease"/></relation>
</document>
</collection>
"""


def test_bioc_xml_keeps_collection_infons_sentences_ids_locations_and_relations():
    docs = read("bioc-xml", BIOC_XML)
    d = docs[0]
    assert (d.collection.source, d.collection.date, d.collection.key, d.collection.infons) == (
        "BioCreative V CDR", "2015", "cdr.key", {"corpus": "test"})
    assert [(p.offset, p.text) for p in d.passages] == [(0, "Naloxone reverses clonidine."),
                                                        (29, "Caffeine caused fever."), (52, "No heart failure was seen.")]
    assert d.passages[2].sentence_of == {"offset": 29, "infons": {"type": "abstract"}}
    assert [e["id"] for e in d.entities] == ["0", "1", "2", "3"]
    assert d.entities[0]["infons"] == {"MESH": "D009270"} and d.entities[3]["locations"] == [[55, 60], [61, 68]]
    assert d.relations[1] == {"id": "R1", "infons": {"type": "x"},
                              "nodes": [{"refid": "0", "role": "Chemical"}, {"refid": "2", "role": "Disease"}]}
    for fmt in ("bioc-xml", "bioc-json", "jsonl"):
        again = read(fmt, write(fmt, docs))
        assert again == (docs if fmt != "jsonl" else [replace(d, collection=None) for d in docs]), fmt  # JSONL has no collection
    out = biocxml.loads(write("bioc-xml", docs))  # the bioc package reads ours: sentences back in their passage
    assert (out.source, out.key, out.infons) == ("BioCreative V CDR", "cdr.key", {"corpus": "test"})
    abstract = out.documents[0].passages[1]
    assert not abstract.text and [s.text for s in abstract.sentences] == ["Caffeine caused fever.",
                                                                              "No heart failure was seen."]
    assert biocjson.loads(write("bioc-json", docs)).documents[0].relations[0].infons["relation"] == "CID"


def test_our_entities_come_beside_theirs_with_fresh_ids_and_the_model():
    d = read("bioc-xml", BIOC_XML)[0]
    found = [entity("Caffeine", "Chemical", 29, 37, "tiny", 0.9), entity("fever", "Disease", 45, 50, "tiny", 0.8)]
    ours = mark(d, found, "my-model")
    assert [e["id"] for e in ours] == ["m1", "m2"] and all(e["model"] == "my-model" for e in ours)
    d.entities.append({**d.entities[0], "id": "m1"})  # an id that looks like ours: never reused
    assert [e["id"] for e in mark(d, found, "my-model")] == ["m2", "m3"]
    back = read("bioc-xml", write("bioc-xml", [d], [mark(d, found, "my-model")]))[0]
    theirs = [e for e in back.entities if e.get("model") is None]
    assert sorted(theirs, key=lambda e: e["id"]) == sorted(d.entities, key=lambda e: e["id"])  # BioC groups by passage
    assert sorted((e["id"], e["head"], e["score"], e["model"]) for e in back.entities if e.get("model")) == [
        ("m2", "tiny", 0.9, "my-model"), ("m3", "tiny", 0.8, "my-model")]


PUBTATOR3 = {"PubTator3": [{
    "_id": "36631541|None", "id": "36631541", "pmid": 36631541, "journal": "Nature", "authors": ["A B", "C D"],
    "infons": {}, "passages": [
        {"infons": {"type": "title", "section_type": "TITLE"}, "offset": 0, "text": "Aspirin and fever.",
         "sentences": [], "annotations": [
             {"id": "1", "infons": {"identifier": "MESH:D001241", "type": "Chemical", "database": "ncbi_mesh",
                                    "normalized_id": "D001241", "biotype": "chemical", "valid": True},
              "text": "Aspirin", "locations": [{"offset": 0, "length": 7}]}], "relations": []},
        {"infons": {"type": "abstract"}, "offset": 19, "text": "Caffeine too.", "sentences": [], "annotations": [],
         "relations": []}],
    "relations": [{"id": "R1", "infons": {"score": "0.9", "role1": {"type": "Chemical", "identifier": "MESH:D001241"},
                                          "type": "Treatment"}, "nodes": []}]}]}


def test_pubtator3_download_and_a_list_of_collections_are_read():
    docs = read("bioc-json", json.dumps(PUBTATOR3))
    d = docs[0]
    assert d.id == "36631541" and d.collection.source == "PubTator3"
    assert d.infons["journal"] == "Nature" and d.infons["authors"] == ["A B", "C D"]  # PubTator3's own fields kept
    assert d.entities[0]["infons"]["identifier"] == "MESH:D001241" and d.entities[0]["infons"]["valid"] is True
    assert d.relations[0]["infons"]["role1"] == {"type": "Chemical", "identifier": "MESH:D001241"}
    assert read("bioc-json", write("bioc-json", docs)) == docs
    assert "MESH:D001241" in write("pubtator", docs)  # the identifier becomes PubTator's concept column
    pmc = [{"source": "PMC", "date": "20240101", "key": "pmc.key", "infons": {}, "documents": [
        {"id": "PMC1", "infons": {}, "passages": [{"offset": 0, "infons": {}, "text": "Body.", "sentences": [],
                                                   "annotations": [], "relations": []}], "relations": []}]}] * 2
    docs = read("bioc-json", json.dumps(pmc))
    assert [d.id for d in docs] == ["PMC1", "PMC1"] and docs[0].collection.source == "PMC"


MEDLINE = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">101</PMID>
<Article PubModel="Print"><Journal><Title>J</Title></Journal><ArticleTitle>Aspirin and <i>fever</i> in CO<sub>2</sub> mice.</ArticleTitle>
<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">We gave aspirin<sup>1</sup>.</AbstractText>
<AbstractText Label="RESULTS" NlmCategory="RESULTS">No fever &amp; no asthma (p&lt;0.05).</AbstractText></Abstract>
</Article></MedlineCitation><PubmedData/></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID Version="1">102</PMID><Article><ArticleTitle>No abstract: caffeine.</ArticleTitle></Article></MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID Version="1">103</PMID><Article><ArticleTitle>Morphine.</ArticleTitle><Abstract><AbstractText>One unlabelled abstract.</AbstractText></Abstract></Article></MedlineCitation></PubmedArticle>
<PubmedBookArticle><BookDocument><PMID Version="1">104</PMID><Book><BookTitle>A book on fever.</BookTitle></Book><Abstract><AbstractText>Fever in books.</AbstractText></Abstract></BookDocument></PubmedBookArticle>
<DeleteCitation><PMID Version="1">5</PMID><PMID Version="1">6</PMID></DeleteCitation>
</PubmedArticleSet>
"""


def test_medline_baseline_files_read_from_a_folder_of_gzip_as_pubtator_lays_them_out(tmp_path, caplog):
    folder = tmp_path / "baseline"
    folder.mkdir()
    (folder / "pubmed25n0001.xml.gz").write_bytes(gzip.compress(MEDLINE))
    (folder / "pubmed25n0002.xml.gz").write_bytes(gzip.compress(MEDLINE.replace(b">10", b">20")))
    with caplog.at_level(logging.INFO, logger="munchables"):
        docs = list(read_inputs([str(folder)]))
    assert [d.id for d in docs] == ["101", "102", "103", "104", "201", "202", "203", "204"]
    assert [p.text for p in docs[3].passages] == ["A book on fever.", "Fever in books."]
    title = "Aspirin and fever in CO2 mice."
    abstract = "BACKGROUND: We gave aspirin1. RESULTS: No fever & no asthma (p<0.05)."
    assert [(p.offset, p.text, p.infons) for p in docs[0].passages] == [
        (0, title, {"type": "title"}), (len(title) + 1, abstract, {"type": "abstract"})]
    assert [p.text for p in docs[1].passages] == ["No abstract: caffeine."]
    assert "pubmed25n0001.xml.gz as medline" in caplog.text and "2 PMIDs listed under DeleteCitation" in caplog.text
    pubtator = write("pubtator", docs[:1])  # the same offsets as PubTator's
    assert pubtator.startswith(f"101|t|{title}\n101|a|{abstract}\n")


@pytest.mark.parametrize("name, content, expected", [
    ("NCBItestset_corpus.txt", NCBI, "pubtator"),
    ("CDR_TestSet.PubTator.txt", CDR, "pubtator"),
    ("pubmed25n0001.xml", MEDLINE.decode(), "medline"),
    ("anything.txt", BIOC_XML, "bioc-xml"),
    ("export.json", json.dumps(PUBTATOR3), "bioc-json"),
    ("tasks.json", json.dumps([{"id": 1, "data": {"text": "x"}, "annotations": []}]), "label-studio"),
    ("records.txt", '{"text": "a"}\n{"text": "b"}\n', "jsonl"),
    ("notes.txt", "Aspirin | fever.\nNo|t|here", "text"),
    ("notes.jsonl", "", "jsonl"),
])
def test_auto_recognises_formats_by_content_then_by_name(name, content, expected):
    assert choose(name, content.encode("utf-8"))[0] == expected


def test_auto_reads_the_ncbi_test_set_named_txt_as_pubtator_and_says_so(tmp_path, caplog):
    path = tmp_path / "NCBItestset_corpus.txt"
    path.write_text(NCBI, encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="munchables"):
        docs = list(read_inputs([str(path)]))
    assert [len(d.entities) for d in docs] == [3, 3]
    assert "reading NCBItestset_corpus.txt as pubtator (by its content" in caplog.text


def test_paragraph_unit_joins_hard_wrapped_lines_for_the_splitter_with_offsets_into_the_file():
    text = "Patients treated with\naspirin reported\r\nfever .\n\n  \nNo asthma was\nseen .\n"
    [doc] = read("text", text, unit="paragraph")
    assert [(p.offset, p.text) for p in doc.passages] == [(0, "Patients treated with\naspirin reported\r\nfever ."),
                                                           (text.index("No"), "No asthma was\nseen .")]
    for p in doc.passages:
        sentences = tokenize(p.splitting_text())
        assert len(sentences) == 1  # a line break inside a paragraph no longer ends a sentence
        assert all(text[p.offset + a:p.offset + b] == t for t, a, b in sentences[0])
    assert len(tokenize(doc.passages[0].text)) == 3  # as --text-unit file splits it: at every line break
    assert read("jsonl", write("jsonl", [doc])) == [doc]  # our JSONL keeps the paragraphs wrapped for tagging again


def spans(doc):
    return sorted((e["start"], e["end"], e["text"], e["type"]) for e in doc.entities)


ASTRAL = "𝛂-synuclein 😀 and aspirin"  # two characters outside the BMP: two UTF-16 units each


def test_utf16_offsets_are_converted_on_reading_and_writing():
    title = "😀 fever"
    pubtator16 = (f"1|t|{title}\n1|a|{ASTRAL}\n1\t3\t8\tfever\tDisease\n"
                  f"1\t9\t21\t𝛂-synuclein\tGene\n1\t29\t36\taspirin\tChemical\n\n")
    [doc] = read("pubtator", pubtator16, offsets="utf16")
    joined = title + " " + ASTRAL
    assert doc.passages[1].offset == len(title) + 1
    assert [joined[e["start"]:e["end"]] for e in doc.entities] == ["fever", "𝛂-synuclein", "aspirin"]
    assert write("pubtator", [doc], offsets="utf16") == pubtator16
    assert write("pubtator", [doc]) != pubtator16  # in code points the numbers differ
    units = joined.encode("utf-16-le")
    for fmt in ("jsonl", "bioc-xml", "bioc-json"):
        out = write(fmt, [doc], offsets="utf16")
        [again] = read(fmt, out, offsets="utf16")
        assert again.passages == doc.passages and spans(again) == spans(doc), fmt
        back = read(fmt, out)[0]  # read as code points: the UTF-16 numbers as written
        for e in back.entities:
            assert units[2 * e["start"]:2 * e["end"]].decode("utf-16-le") == e["text"]
    with pytest.raises(UserError, match="surrogate pair"):
        read("pubtator", "1|t|😀 x\n1\t1\t3\tx\tT\n", offsets="utf16")


def test_annotated_records_of_doccano_label_studio_and_spacy():
    text = "Aspirin caused fever."
    lines = [{"id": 1, "text": text, "label": [[0, 7, "Chemical"], [15, 20, "Disease"]]},  # doccano
             {"id": 2, "text": text, "entities": [{"id": 9, "label": "Chemical", "start_offset": 0, "end_offset": 7}],
              "relations": [{"id": 1, "from_id": 9, "to_id": 10, "type": "causes"}]},  # doccano, newer
             {"text": text, "entities": [[15, 20, "Disease"]]},  # spaCy style
             {"text": text, "spans": [{"start": 0, "end": 7, "label": "Chemical"}]},
             {"id": 5, "data": {"text": text}, "annotations": [  # Label Studio, as JSONL
                 {"id": 7, "result": [{"id": "a", "type": "labels", "from_name": "label", "to_name": "text",
                                       "value": {"start": 15, "end": 20, "text": "fever", "labels": ["Disease"]}}]},
                 {"id": 8, "was_cancelled": True, "result": [{"value": {"start": 0, "end": 1, "labels": ["X"]}}]}]}]
    docs = read("jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    got = [[(e["start"], e["end"], e["type"], e["text"]) for e in d.entities] for d in docs]
    assert got == [[(0, 7, "Chemical", "Aspirin"), (15, 20, "Disease", "fever")], [(0, 7, "Chemical", "Aspirin")],
                   [(15, 20, "Disease", "fever")], [(0, 7, "Chemical", "Aspirin")], [(15, 20, "Disease", "fever")]]
    assert [d.id for d in docs] == ["1", "2", "in:3", "in:4", "5"]
    assert docs[1].relations[0]["nodes"] == [{"refid": "9", "role": "from"}, {"refid": "10", "role": "to"}]
    studio = read("label-studio", json.dumps([lines[4], lines[4]]))
    assert [[(e["start"], e["end"], e["type"], e["id"]) for e in d.entities] for d in studio] == [[(15, 20, "Disease", "a")]] * 2
    assert read("jsonl", write("jsonl", docs)) == docs  # kept as read, and our own output reads back


def test_drop_existing_gives_a_clean_slate():
    d = read("pubtator", CDR)[0].without_annotations()
    assert d.entities == [] and d.relations == [] and d.passages
