"""munch serve's availability, with real sockets against the uvicorn server `serve` runs, started here
(issue 22.7): slow headers, a timed-out request's work, a port in use."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")
pytest.importorskip("uvicorn", reason="munch serve needs the serve extra: pip install 'munchables[serve]'")

from munchables.cli import main  # noqa: E402
from munchables.errors import UserError  # noqa: E402
from munchables.tagging.serve import MAX_CONNECTIONS, Limits, bind, create_app, server  # noqa: E402
from munchables.tagging.tagger import Tagger  # noqa: E402

TEXT = "Patients treated with aspirin reported headache ."


@pytest.fixture(scope="module")
def tagger(tiny_run):
    return Tagger.load(tiny_run.out)


class Running:
    """The service on 127.0.0.1:port in a thread, as `munch serve` runs it."""

    def __init__(self, app, limits: Limits):
        self.sock = bind("127.0.0.1", 0)
        self.port = self.sock.getsockname()[1]
        self.server = server(app, limits)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "Running":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def post(self, body: dict, timeout: float = 20) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/tag", json.dumps(body), {"Content-Type": "application/json"})
            reply = conn.getresponse()
            return reply.status, json.loads(reply.read())
        finally:
            conn.close()


def half_open(port: int, n: int) -> list[socket.socket]:
    """`n` connections that start a request and never finish its headers."""
    socks = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /tag HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
    return socks


def test_connections_that_never_finish_their_headers_do_not_lock_out_real_clients(tagger):
    with Running(create_app(tagger), Limits()) as service:
        slow = half_open(service.port, MAX_CONNECTIONS + 4)  # 260: every real client got 503
        try:
            time.sleep(0.3)
            status, body = service.post({"text": TEXT})
            assert status == 200, body
        finally:
            for s in slow:
                s.close()


def test_headers_that_take_too_long_are_answered_408_and_closed(tagger):
    with Running(create_app(tagger), Limits(header_timeout=0.5)) as service:
        (s,) = half_open(service.port, 1)
        s.settimeout(10)
        started = time.monotonic()
        for _ in range(3):  # a byte now and then does not keep the connection
            time.sleep(0.2)
            s.sendall(b"X")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b"too long" in answer
        assert time.monotonic() - started < 5
        s.close()


def test_a_timed_out_request_stops_using_the_worker(tagger, monkeypatch):
    """A request past its timeout gets 504 and its tagging stops between two batches, so the next
    small request is tagged at once (it timed out too: the worker went on with the first)."""
    app = create_app(tagger, Limits(timeout=1.5), batch_size=2)
    encoder = app.state.batcher.tagger.model.encoder
    real = encoder.forward

    def slow(batch):  # every batch of two sentences takes 0.25 s: the long request needs 15 s
        time.sleep(0.25)
        return real(batch)

    monkeypatch.setattr(encoder, "forward", slow)
    with Running(app, Limits(timeout=1.5)) as service:
        status, body = service.post({"text": " ".join([TEXT] * 120)})
        assert status == 504 and "--timeout" in body["error"]
        status, body = service.post({"text": TEXT})
        assert status == 200, body


def test_a_port_in_use_is_one_line(tagger, tiny_run, capsys):
    taken = bind("127.0.0.1", 0)
    port = taken.getsockname()[1]
    with pytest.raises(UserError, match=rf"--port {port}: 127\.0\.0\.1:{port} is already in use"):
        bind("127.0.0.1", port)
    assert main(["serve", "--model", str(tiny_run.out), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert "already in use" in err and "\n" not in err and "Traceback" not in err
    taken.close()


def test_a_body_that_takes_too_long_is_answered_408(tagger):
    with Running(create_app(tagger, Limits(timeout=1)), Limits(timeout=1)) as service:
        s = socket.create_connection(("127.0.0.1", service.port))
        s.settimeout(15)
        s.sendall(b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te")
        started = time.monotonic()
        answer = b""
        while b"--timeout" not in answer and (chunk := s.recv(4096)):  # the body may follow the headers apart
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b"--timeout" in answer
        assert time.monotonic() - started < 10
        s.close()
