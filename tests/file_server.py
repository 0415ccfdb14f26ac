"""A local HTTP file server on 127.0.0.1 for the download tests (corpora, Flair's files): never the internet.

(Named like hub_server.py, a helper the tests import; it holds no test.)
"""

from __future__ import annotations

import http.server
import socket
import threading
import time


class Server:
    """Files by URL path; `cut[path] = n` answers the next n requests for path with half the body
    asked for and a closed connection; `slow[path] = s` sends half, waits s seconds, sends the rest;
    `requests` logs (path, Range header) of every GET."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.slow: dict[str, float] = {}
        self.endless: dict[str, str | None] = {}  # path -> Content-Length to claim (None: none); then bytes without end
        self.sent: dict[str, int] = {}  # bytes sent for an endless path
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path in server.endless:  # stops at 64 MB, so that a client without a limit ends too
                    self.send_response(200)
                    if server.endless[self.path] is not None:
                        self.send_header("Content-Length", server.endless[self.path])
                    self.end_headers()
                    server.sent[self.path] = 0
                    try:
                        while server.sent[self.path] < 64_000_000:
                            self.wfile.write(b"w\tO\n" * 16384)
                            server.sent[self.path] += 4 * 16384
                    except OSError:
                        pass
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(self.headers["Range"][6:-1]) if self.headers.get("Range") else 0
                if start >= len(data) and start:
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if server.cut.get(self.path, 0) > 0:
                    server.cut[self.path] -= 1
                    self.wfile.write(data[start: start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)  # the cut
                    self.close_connection = True
                    return
                if self.path in server.slow:
                    half = start + (len(data) - start) // 2
                    self.wfile.write(data[start:half])
                    self.wfile.flush()
                    time.sleep(server.slow[self.path])
                    start = half
                self.wfile.write(data[start:])

            def log_message(self, *args):  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
