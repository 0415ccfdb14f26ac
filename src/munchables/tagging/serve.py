"""`munch serve`: a tagging service over HTTP (FastAPI + uvicorn) and a page to try it.

    POST /tag      one text or a list of documents -> entities (JSON), PubTator or BioC
    GET  /health   the model: target, heads, entity types and their colours
    GET  /docs     the OpenAPI page (Swagger UI served from the package fastapi-offline: no CDN)
    GET  /         the page (static/index.html, page.css, page.js: no build step, no external assets)

Safe by default: bound to 127.0.0.1 by the command line; a request body over `Limits.max_bytes`
or with more than `Limits.max_documents` documents is refused with 413; a request that waits
longer than `Limits.timeout` seconds for its entities gets 504 (and one whose body takes that
long to arrive, 408); bad JSON, a bad field or an unknown head is a 4xx whose body is
``{"error": "one line saying what and how to fix it"}``; nothing else reaches the client but
"internal error" (the traceback goes to the server's log). The model is loaded once, by the
command line, and no request can name a file.

Batching. The model belongs to one worker thread (`Batcher`); a request puts its documents on a
queue with an asyncio future and awaits it. The worker takes the first job waiting and, without
waiting any longer, every other job already queued (up to `MAX_JOBS`), and tags them together:
sentences of all of them share the encoder's batches (tagging.tag_documents). At low load a
request is tagged alone at once; under load the requests that arrive while a batch is being
tagged form the next batch, so throughput approaches that of batch tagging with no added delay.
Jobs are grouped by (heads, overlap), as these decide what the model runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, model_validator

from .. import __version__
from .documents import Document, Passage
from ..errors import UserError
from .formats import _CSS as ENTITY_CSS  # the HTML writer's styles, shared with the page
from .formats import OUTPUT_FORMATS, colour, html_document
from .tagger import Tagger
from ..choices import OVERLAPS
from .heads import Tagged
from ..util.threads import set_threads

log = logging.getLogger("munchables")

STATIC = Path(__file__).parent.parent / "static"
MAX_JOBS = 64  # requests tagged together at most (each within the limits below)
# output formats of POST /tag: JSON, or a collection in one of formats.py's writers
TAG_FORMATS = {"json": "application/json", "pubtator": "text/plain; charset=utf-8",
               "bioc-xml": "application/xml", "bioc-json": "application/json"}


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1_000_000  # largest request body (about 500 abstracts)
    max_documents: int = 100  # documents in one request
    timeout: float = 60.0  # seconds a request may wait for its body, and again for its entities


# ------------------------------------------------------------------------------------------ the API's shapes
class PassageIn(BaseModel):
    text: str
    offset: int = Field(0, ge=0, description="where the passage starts in the document")


class DocumentIn(BaseModel):
    id: str | None = Field(None, description='default: its place in the list, "1", "2", ...')
    text: str | None = Field(None, description="the document's text (or give passages)")
    passages: list[PassageIn] | None = Field(None, description="passages at offsets, e.g. a title and an abstract")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.text is None) == (self.passages is None):
            raise ValueError('a document needs "text" or "passages" (one of them)')
        return self


class TagRequest(BaseModel):
    text: str | None = Field(None, description="one text to tag (or give documents)")
    documents: list[DocumentIn] | None = Field(None, description="documents to tag (or give text)")
    heads: str | list[str] = Field("target", description='"target", "all", or corpora (a list or comma-separated)')
    overlap: Literal[OVERLAPS] = Field("all", description="overlapping entities of different heads: "
                                                          "keep all, the higher score, or the first head's")
    format: Literal["json", "pubtator", "bioc-xml", "bioc-json"] = "json"
    html: bool = Field(False, description="json only: also each document rendered as HTML (what the page shows)")

    model_config = {"json_schema_extra": {"examples": [
        {"text": "Aspirin reduced the risk of heart failure."},
        {"documents": [{"id": "a", "text": "Caffeine and fever."}], "heads": "all", "overlap": "score"}]}}

    @model_validator(mode="after")
    def _one_of(self):
        if (self.text is None) == (self.documents is None):
            raise ValueError('give "text" (one text) or "documents" (a list), not both or neither')
        return self

    def to_documents(self) -> list[Document]:
        if self.text is not None:
            return [Document.of_text(self.text, "1")]
        return [Document(d.id if d.id is not None else str(i), [Passage(d.text, 0)] if d.text is not None else
                         [Passage(p.text, p.offset) for p in sorted(d.passages, key=lambda p: p.offset)])
                for i, d in enumerate(self.documents, 1)]


# ------------------------------------------------------------------------------------------ batching
@dataclass
class Job:
    documents: list[Document]
    heads: tuple[str, ...]
    overlap: str
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop
    abandoned: threading.Event = field(default_factory=threading.Event)  # timed out: skip it


class Batcher:
    """The worker thread that owns the model and tags queued requests in batches (see the module docstring)."""

    def __init__(self, tagger: Tagger, threads: int | None = None, batch_size: int = 256):
        self.tagger, self.threads, self.batch_size = tagger, threads, batch_size
        self.queue: queue.Queue[Job | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.batches: list[int] = []  # jobs per batch, the last 1000 (for the tests)
        self.counts = {"batches": 0, "requests": 0}  # since the start (/health)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="munch-serve-tagger", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None

    async def tag(self, documents: list[Document], heads: list[str], overlap: str, timeout: float) -> list[Tagged]:
        loop = asyncio.get_running_loop()
        job = Job(documents, tuple(heads), overlap, loop.create_future(), loop)
        self.queue.put(job)
        try:
            return await asyncio.wait_for(job.future, timeout)
        except asyncio.TimeoutError:
            job.abandoned.set()
            raise

    def _run(self) -> None:
        set_threads(self.threads)  # torch's thread count is per thread: set it where the model runs
        while True:
            job = self.queue.get()
            if job is None:
                return
            jobs = [job]
            while len(jobs) < MAX_JOBS:  # everything that is waiting already, and no more
                try:
                    more = self.queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self.queue.put(None)  # stop after this batch
                    break
                jobs.append(more)
            self.batches = (self.batches + [len(jobs)])[-1000:]
            self.counts = {"batches": self.counts["batches"] + 1, "requests": self.counts["requests"] + len(jobs)}
            groups: dict[tuple, list[Job]] = {}
            for j in jobs:
                if not j.abandoned.is_set():
                    groups.setdefault((j.heads, j.overlap), []).append(j)
            for (heads, overlap), group in groups.items():
                self._tag(group, list(heads), overlap)

    def _tag(self, group: list[Job], heads: list[str], overlap: str) -> None:
        try:
            docs = [d for j in group for d in j.documents]
            tagged = list(self.tagger.stream(docs, heads, overlap, self.batch_size))
        except Exception as e:  # a bug, not a request's fault: every request of the batch gets a 500
            log.exception("munch serve: tagging failed")
            for j in group:
                j.loop.call_soon_threadsafe(_settle, j.future, None, e)
            return
        at = 0
        for j in group:
            j.loop.call_soon_threadsafe(_settle, j.future, tagged[at : at + len(j.documents)], None)
            at += len(j.documents)


def _settle(future: asyncio.Future, result, error) -> None:
    """In the event loop's thread: a future that timed out meanwhile is cancelled and left alone."""
    if not future.done():
        future.set_exception(error) if error is not None else future.set_result(result)


# ------------------------------------------------------------------------------------------ request limits
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` is refused with 413, one slower than `timeout` with 408.

    Written by hand because Starlette and uvicorn have no request-size limit. The body is read
    here (at most max_bytes of it) and handed on whole.
    """

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        too_large = _error(413, f"the request body is larger than the limit of {self.max_bytes} bytes "
                                f"(munch serve --max-bytes); send fewer or shorter documents per request")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await too_large(scope, receive, send)
        try:
            body = await asyncio.wait_for(self._read(receive), self.timeout)
        except asyncio.TimeoutError:
            return await _error(408, f"the request body took longer than {self.timeout:g} s to arrive "
                                     "(munch serve --timeout)")(scope, receive, send)
        if body is None:  # the client went away
            return
        if len(body) > self.max_bytes:
            return await too_large(scope, receive, send)
        given = False

        async def replay():
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read(self, receive) -> bytes | None:
        """The body, or its first max_bytes + 1 bytes (then it is too large); None if the client disconnects."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    """400 for a body that is not JSON, else 422; one line naming the field and the problem."""
    errors = exc.errors()
    for e in errors:
        if e.get("type") == "json_invalid":
            return 400, f"the request body is not valid JSON ({e.get('ctx', {}).get('error', 'cannot parse')}); " \
                        'send e.g. {"text": "Aspirin reduced the risk of heart failure."}'
    parts = []
    for e in errors[:5]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return 422, "; ".join(parts) + " (see /docs for the request's fields)"


# ------------------------------------------------------------------------------------------ the app
def create_app(tagger: Tagger, limits: Limits = Limits(), threads: int | None = None, batch_size: int = 256,
               model_name: str = "") -> FastAPI:
    """The service around a loaded tagger; run it with uvicorn (`serve`) or FastAPI's TestClient."""
    batcher = Batcher(tagger, threads, batch_size)
    all_types = tagger.types("all")  # colours are given by place among every head's types: stable across choices

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        batcher.stop()

    app = FastAPIOffline(title="munchables", version=__version__, lifespan=lifespan, redoc_url=None,
                         description="Named-entity tagging with a trained munchables model. "
                                     "POST /tag with {\"text\": ...}; the page to try it is at /.")
    app.state.batcher = batcher
    app.add_middleware(BodyLimit, max_bytes=limits.max_bytes, timeout=limits.timeout)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        return _error(*_validation_message(exc))

    @app.exception_handler(UserError)
    async def user_error(request: Request, exc: UserError):
        return _error(400, str(exc))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception):  # the traceback is logged, never sent
        log.error("munch serve: %s %s failed", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal error; the server's log has the details")

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/entities.css", include_in_schema=False)
    async def entity_css():
        return Response(ENTITY_CSS, media_type="text/css")

    @app.get("/health")
    async def health() -> dict:
        """The model this server tags with: its target, its heads and each head's entity types, with their colours;
        the limits; and how many batches the requests so far were tagged in."""
        return {"status": "ok", "version": __version__, "model": model_name, "target": tagger.target,
                "heads": tagger.heads("all"), "types": {h: tagger.types([h]) for h in tagger.heads("all")},
                "colours": _colours(all_types), "limits": asdict(limits), "batching": batcher.counts}

    @app.post("/tag", responses={
        200: {"description": "json: {heads, colours, documents: [{id, text or passages, entities}], sentences, "
                             "dropped}; pubtator, bioc-xml, bioc-json: the collection in that format"},
        400: {"description": "not JSON, an unknown head, or a document the format cannot hold"},
        413: {"description": "over the size or document limit"}, 422: {"description": "a field is wrong"},
        504: {"description": "tagging took longer than the timeout"}})
    async def tag(request: TagRequest) -> Response:
        """Tag one text or a list of documents. Entities: {text, type, head, start, end, score}, with
        character offsets into the document, the head (corpus) that found it and its marginal probability."""
        documents = request.to_documents()
        if len(documents) > limits.max_documents:
            return _error(413, f"{len(documents)} documents in one request; the limit is {limits.max_documents} "
                               "(munch serve --max-documents): send them in several requests")
        try:
            heads = tagger.heads(request.heads)
        except UserError as e:  # its message names the command line's flag
            return _error(400, str(e).replace("--heads ", "heads: ", 1))
        try:
            tagged = await batcher.tag(documents, heads, request.overlap, limits.timeout)
        except asyncio.TimeoutError:
            return _error(504, f"tagging took longer than {limits.timeout:g} s (munch serve --timeout); "
                               "send fewer or shorter documents per request")
        if request.format != "json":
            return PlainTextResponse(render(tagged, request.format, heads, all_types),
                                     media_type=TAG_FORMATS[request.format])
        docs = []
        for t in tagged:
            doc = json.loads(OUTPUT_FORMATS["jsonl"].document(t.document, t.entities, heads))
            if request.html:
                doc["html"] = html_document(t.document, t.entities, heads, types=all_types)
            docs.append(doc)
        types = tagger.types(heads)
        return JSONResponse({"heads": heads, "colours": _colours(all_types, types), "documents": docs,
                             "sentences": sum(t.sentences for t in tagged), "dropped": sum(t.dropped for t in tagged)})

    return app


def _colours(all_types: list[str], types: list[str] | None = None) -> dict[str, str]:
    """{type: colour} as formats.py's HTML writer colours them (displaCy's palette)."""
    return {t: colour(t, all_types) for t in (types if types is not None else all_types)}


def render(tagged: list[Tagged], fmt: str, heads: list[str], types: list[str]) -> str:
    """A collection in one of formats.py's output formats: header, documents, footer."""
    out = OUTPUT_FORMATS[fmt]
    parts = [out.header(types, heads)]
    for i, t in enumerate(tagged):
        parts.append((out.separator if i else "") + out.document(t.document, t.entities, heads))
    parts.append(out.footer)
    return "".join(parts)


def serve(tagger: Tagger, host: str, port: int, limits: Limits, threads: int | None, model_name: str = "") -> None:
    """Run the service until interrupted (uvicorn)."""
    import uvicorn  # the server only; the app above runs without it (TestClient)

    app = create_app(tagger, limits, threads, model_name=model_name)
    log.info("munch serve: %s on http://%s:%d/ (the page), /docs (the API)", model_name or "model", host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5, limit_concurrency=256)
