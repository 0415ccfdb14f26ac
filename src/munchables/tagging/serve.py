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

Availability (`serve`): a connection has `Limits.header_timeout` seconds to send a request's
headers, and connections still sending them do not count against the `MAX_CONNECTIONS` requests
under way (header_timeout_protocol); a request past its timeout stops using the model between two
batches (Batcher._tag); a port in use is one line at start (bind).

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
import errno
import json
import logging
import queue
import re
import socket
import threading
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import AfterValidator, BaseModel, Field, model_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..choices import OVERLAPS
from ..data.documents import Document, Passage
from ..data.formats import _CSS as ENTITY_CSS  # the HTML writer's styles, shared with the page
from ..data.formats import OUTPUT_FORMATS, colour, html_document
from ..errors import UserError
from ..util.threads import set_threads
from .heads import Cancelled, Tagged
from .tagger import Tagger

log = logging.getLogger("munchables")

STATIC = Path(__file__).parent.parent / "static"
MAX_JOBS = 64  # requests tagged together at most (each within the limits below)
MAX_CONNECTIONS = 256  # connections with a request under way, and requests, at once; more get 503
# output formats of POST /tag: JSON, or a collection in one of formats.py's writers
TAG_FORMATS = {"json": "application/json", "pubtator": "text/plain; charset=utf-8",
               "bioc-xml": "application/xml", "bioc-json": "application/json"}


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 1_000_000  # largest request body (about 500 abstracts)
    max_documents: int = 100  # documents in one request
    timeout: float = 60.0  # seconds a request may wait for its body, and again for its entities
    header_timeout: float = 10.0  # seconds a connection may take to send a request's headers; then it is closed


# ------------------------------------------------------------------------------------------ the API's shapes
_SURROGATE = re.compile("[\ud800-\udfff]")


def _unicode(value: str) -> str:
    """JSON's \\ud800 escapes decode to lone surrogates, which are not Unicode text: no writer can encode them."""
    found = _SURROGATE.search(value)
    if found:
        raise ValueError(f"a lone surrogate (\\u{ord(found.group()):04x}) at character {found.start()}, which is not "
                         "Unicode text; send UTF-8 text (pair surrogates, or drop them)")
    return value


Text = Annotated[str, AfterValidator(_unicode)]
MAX_OFFSET = 2 ** 53 - 1  # the largest integer a JavaScript client reads exactly


class PassageIn(BaseModel):
    text: Text
    offset: int = Field(0, ge=0, le=MAX_OFFSET, strict=True, description="where the passage starts in the document "
                                                                        "(a whole number, not a string)")


class DocumentIn(BaseModel):
    id: Text | None = Field(None, description='default: its place in the list, "1", "2", ...')
    text: Text | None = Field(None, description="the document's text (or give passages)")
    passages: list[PassageIn] | None = Field(None, description="passages at offsets, e.g. a title and an abstract")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.text is None) == (self.passages is None):
            raise ValueError('a document needs "text" or "passages" (one of them)')
        return self


class TagRequest(BaseModel):
    text: Text | None = Field(None, description="one text to tag (or give documents)")
    documents: list[DocumentIn] | None = Field(None, description="documents to tag (or give text)")
    heads: Text | list[Text] = Field("target", description='"target", "all", or corpora (a list or comma-separated)')
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
        """Tag the group's documents together; stopped between two batches once every job in it has timed
        out, so a request that timed out leaves the worker within one batch (tagging.BATCH_CELLS tokens)."""
        try:
            docs = [d for j in group for d in j.documents]
            abandoned = lambda: all(j.abandoned.is_set() for j in group)  # noqa: E731
            tagged = list(self.tagger.stream(docs, heads, overlap, self.batch_size, cancelled=abandoned))
        except Cancelled:
            log.warning("munch serve: %d timed-out request(s) stopped", len(group))
            return
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
        where = re.sub(r"function-after\[\w+\(\), (\w+)\]", r"\1", where)  # a Text field in a union: "str"
        parts.append(f"{where}: {e.get('msg', 'invalid').removeprefix('Value error, ')}")
    return 422, "; ".join(parts) + " (see /docs for the request's fields)"


# ------------------------------------------------------------------------------------------ the app
def create_app(tagger: Tagger, limits: Limits = Limits(), threads: int | None = None, batch_size: int = 256,
               model_name: str = "") -> FastAPI:
    """The service around a loaded tagger; run it with uvicorn (`serve`) or FastAPI's TestClient."""
    batcher = Batcher(tagger, threads, batch_size)
    all_types = tagger.types("all")  # the legend: every head's types (a type's colour is its own: colours.py)

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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):  # 404, 405, and bodies FastAPI cannot parse
        message = str(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":  # json.loads raised (deep nesting)
            message = ("the request body cannot be parsed as JSON (nested too deeply?); "
                       'send e.g. {"text": "Aspirin reduced the risk of heart failure."}')
        return JSONResponse({"error": message}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

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
    parts = [out.head(types, heads)]
    for i, t in enumerate(tagged):
        parts.append((out.separator if i else "") + out.document(t.document, t.entities, heads))
    parts.append(out.footer)
    return "".join(parts)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or a one-line UserError (the port in use, the address unknown)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise UserError(f"--host {host}: not an address of this machine ({e.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise UserError(f"--port {port}: {host}:{port} is already in use (another munch serve?); "
                            "choose another --port or stop the program that holds it") from None
        raise UserError(f"--host {host} --port {port}: cannot listen there ({e.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol with a deadline for a request's headers, and slow headers not counted against
    the concurrency limit.

    Why: uvicorn has no header timeout, and `limit_concurrency` counts every open connection, so 260
    connections that never finished their headers made every real client get 503. Here a
    connection waiting for headers is left out of uvicorn's connection set until its headers are
    complete, and closed (after a 408) when they take longer than `seconds`, from its opening or
    from the end of its last response (a byte now and then does not keep it open).
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutProtocol(H11Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.connections.discard(self)  # counted once its headers are complete
            self._header_timer = None
            self._arm()

        def _arm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
            self._header_timer = self.loop.call_later(seconds, self._headers_too_slow)

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                                     b"connection: close\r\ncontent-length: 57\r\n\r\n"
                                     b'{"error": "the request headers took too long to arrive"}\n')
                self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:  # a request's headers are complete: it counts from now
                if self._header_timer is not None:
                    self._header_timer.cancel()
                    self._header_timer = None
                self.connections.add(self)

        def on_response_complete(self) -> None:
            super().on_response_complete()  # may start a pipelined request (handle_events above)
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self.connections.discard(self)
                self._arm()  # the next request's headers have the same deadline

        def connection_lost(self, exc) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None
            super().connection_lost(exc)

    return HeaderTimeoutProtocol


def serve(tagger: Tagger, host: str, port: int, limits: Limits, threads: int | None, model_name: str = "") -> None:
    """Run the service until interrupted (uvicorn)."""

    sock = bind(host, port)
    app = create_app(tagger, limits, threads, model_name=model_name)
    log.info("munch serve: %s on http://%s:%d/ (the page), /docs (the API)", model_name or "model", host, port)
    server(app, limits).run(sockets=[sock])


def server(app, limits: Limits):
    """The uvicorn server `serve` runs (the tests start it on a socket of their own)."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=5, limit_concurrency=MAX_CONNECTIONS,
                            http=header_timeout_protocol(limits.header_timeout))
    return uvicorn.Server(config)
