"""munch serve (serve.py): the API through FastAPI's TestClient, on the tiny model of conftest.tiny_run.

Oracles: the library itself (Tagger.predict) for the entities, formats.py's readers for the
PubTator and BioC answers (round trips), and a worker held still to see requests batched.
"""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")
pytest.importorskip("fastapi_offline", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from munchables.cli import main  # noqa: E402
from munchables.data.documents import Document, Passage  # noqa: E402
from munchables.data.formats import READERS  # noqa: E402
from munchables.tagging.serve import Limits, create_app  # noqa: E402
from munchables.tagging.tagger import Tagger  # noqa: E402

TEXT = "Patients treated with aspirin reported headache . No fever was seen after caffeine ."


@pytest.fixture(scope="module")
def tagger(tiny_run):
    return Tagger.load(tiny_run.out)


@pytest.fixture
def client(tagger):
    with TestClient(create_app(tagger, Limits(max_bytes=20_000, max_documents=3, timeout=20))) as c:
        yield c


def test_one_text_gives_the_entities_of_the_library(client, tagger):
    reply = client.post("/tag", json={"text": TEXT})
    assert reply.status_code == 200
    body = reply.json()
    expected = tagger.predict(TEXT)
    assert expected, "the tiny model should find entities in its own templates"
    assert body["documents"] == [{"id": "1", "text": TEXT, "entities": expected}]
    assert body["heads"] == [tagger.target] and body["dropped"] == 0 and body["sentences"] == 2
    assert set(body["colours"]) == set(tagger.types())
    for e in body["documents"][0]["entities"]:
        assert TEXT[e["start"] : e["end"]] == e["text"]


def test_documents_with_passages_heads_and_overlap(client, tagger):
    docs = [{"id": "a", "text": "Aspirin reduced the risk of fever in 12 mice ."},
            {"passages": [{"text": "Caffeine and asthma", "offset": 0}, {"text": "We studied asthma .", "offset": 20}]}]
    reply = client.post("/tag", json={"documents": docs, "heads": "all", "overlap": "score"})
    assert reply.status_code == 200
    got = reply.json()["documents"]
    expected = tagger.predict([Document("a", [Passage(docs[0]["text"])]),
                               Document("2", [Passage("Caffeine and asthma", 0), Passage("We studied asthma .", 20)])],
                              heads="all", overlap="score")
    assert [d["id"] for d in got] == ["a", "2"]
    assert [d["entities"] for d in got] == expected


@pytest.mark.parametrize("fmt", ["pubtator", "bioc-xml", "bioc-json"])
def test_collection_formats_read_back(client, fmt):
    docs = [{"id": "d1", "text": TEXT}, {"id": "d2", "text": "Morphine and heart failure ."}]
    as_json = client.post("/tag", json={"documents": docs}).json()["documents"]
    reply = client.post("/tag", json={"documents": docs, "format": fmt})
    assert reply.status_code == 200
    back = list(READERS[fmt](io.BytesIO(reply.content), "reply"))
    assert [d.id for d in back] == ["d1", "d2"]
    for doc, want in zip(back, as_json):
        got = [(e["start"], e["end"], e["text"], e["type"]) for e in doc.entities]
        assert got == [(e["start"], e["end"], e["text"], e["type"]) for e in want["entities"]]


def test_html_is_the_writers_and_health_names_the_heads(client, tagger):
    body = client.post("/tag", json={"text": TEXT, "html": True}).json()
    html = body["documents"][0]["html"]
    marked = [e["text"] for e in body["documents"][0]["entities"]]
    assert html.count('<mark class="entity') == len(marked)
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["target"] == tagger.target
    assert health["heads"] == tagger.heads("all") and health["types"][tagger.target] == tagger.types()


@pytest.mark.parametrize("body, status, words", [
    (b'{"text": "unclosed', 400, "not valid JSON"),
    (b'{}', 422, '"text"'),
    (b'{"text": "a", "documents": []}', 422, "not both"),
    (b'{"text": "a", "heads": "nosuchcorpus"}', 400, "nosuchcorpus"),
    (b'{"text": "a", "overlap": "sometimes"}', 422, "overlap"),
    (b'{"text": "a", "format": "docx"}', 422, "format"),
    (b'{"documents": [{"id": "x"}]}', 422, '"text" or "passages"'),
    (b'{"documents": [{"text": "a"}, {"text": "b"}, {"text": "c"}, {"text": "d"}]}', 413, "--max-documents"),
    (b'{"text": "' + b"x" * 30_000 + b'"}', 413, "--max-bytes"),
    # issue 22.6: malformed bodies (the lone surrogates and the nesting were 500s or FastAPI's {"detail"})
    (b'{"text": 5}', 422, "text: Input should be a valid string"),
    (b'{"text": "aspirin \\ud800 fever"}', 422, "lone surrogate"),
    (b'{"documents": [{"id": "\\udc00", "text": "a"}], "format": "pubtator"}', 422, "documents.0.id: a lone surrogate"),
    (b'{"documents": [{"passages": [{"text": "\\ud83d", "offset": 0}]}]}', 422, "lone surrogate"),
    (b'{"text": "a", "heads": ["\\ud800"]}', 422, "heads.list[str].0"),
    (b'{"documents": [{"passages": [{"text": "a", "offset": 1e400}]}]}', 422, "offset"),
    (b'{"documents": [{"passages": [{"text": "a", "offset": "5"}]}]}', 422, "offset"),
    (b'{"documents": [{"passages": [{"text": "a", "offset": null}]}]}', 422, "offset"),
    (b'{"documents": [{"passages": [{"text": "a", "offset": 2.5}]}]}', 422, "offset"),
    (b'{"documents": [{"passages": [{"text": "a", "offset": 99999999999999999999}]}]}', 422, "offset"),
    (b'{"documents": [{"passages": "a"}]}', 422, "passages"),
    (b'{"documents": {"text": "a"}}', 422, "documents"),
    (b'{"text": ' + b"[" * 9_000 + b"]" * 9_000 + b"}", 400, "nested too deeply"),  # 100,000 levels: below
    (b"[" * 9_900 + b"]" * 9_900, 400, "nested too deeply"),
], ids=lambda v: repr(v)[:50] if isinstance(v, bytes) else None)
def test_mistakes_are_4xx_with_one_clear_line(client, body, status, words):
    reply = client.post("/tag", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == status
    error = reply.json()["error"]
    assert words in error and "Traceback" not in error and "\n" not in error


def test_a_hundred_thousand_levels_of_nesting_is_a_400(tagger):
    with TestClient(create_app(tagger, Limits())) as client:  # the 200 KB body fits the default 1 MB
        reply = client.post("/tag", content=b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                            headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and "nested too deeply" in reply.json()["error"]


def test_unknown_paths_and_methods_answer_in_the_same_shape(client):
    assert client.get("/nowhere").json() == {"error": "Not Found"}
    assert client.get("/tag").status_code == 405 and "error" in client.get("/tag").json()


def test_pubtator_cannot_hold_a_line_break(client):
    reply = client.post("/tag", json={"text": "Aspirin .\nFever .", "format": "pubtator"})
    assert reply.status_code == 400 and "PubTator" in reply.json()["error"]


def test_a_body_too_large_is_refused_while_streaming(client):
    """No Content-Length (chunked): the limit still holds."""
    chunks = (b'{"text": "' + b"x" * 1000 + b'"}' if i == 0 else b" " * 1000 for i in range(30))
    reply = client.post("/tag", content=chunks, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413


def test_slow_tagging_times_out_and_the_server_goes_on(tagger, monkeypatch):
    app = create_app(tagger, Limits(timeout=0.2))
    real = tagger.stream

    def slow(*args, **kwargs):
        time.sleep(0.6)
        return real(*args, **kwargs)

    with TestClient(app) as client:
        monkeypatch.setattr(app.state.batcher.tagger, "stream", slow)
        reply = client.post("/tag", json={"text": TEXT})
        assert reply.status_code == 504 and "--timeout" in reply.json()["error"]
        monkeypatch.setattr(app.state.batcher.tagger, "stream", real)
        time.sleep(0.6)  # the worker finishes the abandoned request (its answer is dropped)
        assert client.post("/tag", json={"text": TEXT}).status_code == 200


def test_a_bug_is_a_500_without_traceback(tagger, monkeypatch):
    app = create_app(tagger)

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(app.state.batcher.tagger, "stream", broken)
        reply = client.post("/tag", json={"text": TEXT})
    assert reply.status_code == 500
    assert "secret" not in reply.text and "Traceback" not in reply.text and "internal error" in reply.json()["error"]


def test_requests_waiting_together_are_tagged_in_one_batch(tagger):
    """The worker is held on the first request; the five sent meanwhile come back from one batch, each its own."""
    app = create_app(tagger)
    batcher = app.state.batcher
    release, started = threading.Event(), threading.Event()
    real = tagger.stream

    def held(*args, **kwargs):
        started.set()
        release.wait(10)
        return real(*args, **kwargs)

    texts = [f"Patients treated with {c} reported fever ." for c in ("aspirin", "caffeine", "morphine", "ibuprofen",
                                                                       "nitric oxide", "aspirin and caffeine")]

    async def run():
        batcher.tagger.stream = held
        first = asyncio.ensure_future(batcher.tag([Document.of_text(texts[0])], [tagger.target], "all", 20))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        batcher.tagger.stream = real
        rest = [asyncio.ensure_future(batcher.tag([Document.of_text(t)], [tagger.target], "all", 20)) for t in texts[1:]]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest)

    batcher.start()
    try:
        results = asyncio.run(run())
    finally:
        batcher.tagger.stream = real
        batcher.stop()
    assert batcher.batches == [1, 5]
    assert [r[0].entities for r in results] == tagger.predict(texts)


def test_pages_and_docs_are_served_without_external_assets(client):
    page = client.get("/")
    assert page.status_code == 200 and "<textarea" in page.text
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    for html in (page.text, docs.text):
        assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    for asset in ("/static/page.js", "/static/page.css", "/entities.css", "/static-offline-docs/swagger-ui-bundle.js"):
        assert client.get(asset).status_code == 200, asset
    spec = client.get("/openapi.json").json()
    assert "/tag" in spec["paths"] and "/health" in spec["paths"]


def test_serve_command_refuses_a_missing_model_in_one_line(tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no trained model" in err


def test_serve_command_checks_its_numbers(tiny_run, capsys):
    assert main(["serve", "--model", str(tiny_run.out), "--max-documents", "0"]) == 2
    assert "--max-documents must be positive" in capsys.readouterr().err
