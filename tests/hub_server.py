"""A local stand-in for the Hugging Face hub: serves model folders under ids, over HTTP on 127.0.0.1.

It answers the requests huggingface_hub's `snapshot_download` makes (the revision and tree APIs,
then HEAD and GET of each file under /ID/resolve/REVISION/NAME), so the real download code runs
end to end. `serve({"tiny/bert": folder})` yields the endpoint URL; `hub_at(url, cache, monkeypatch)`
points huggingface_hub at it (its settings are read from the environment at import time, so the
module constants are set too).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SHA = "1" * 40  # the one revision every model has


@contextlib.contextmanager
def serve(models: dict[str, Path]):
    files = {repo: sorted(str(p.relative_to(d)) for p in Path(d).rglob("*") if p.is_file()) for repo, d in models.items()}
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, body: bytes, head: bool, status: int = 200, headers: dict | None = None):
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def route(self, head: bool):
            path = self.path.split("?")[0]
            requests.append(f"{self.command} {path}")
            for repo, folder in models.items():
                if path.startswith(f"/api/models/{repo}/tree/"):
                    tree = [{"type": "file", "path": f, "size": (folder / f).stat().st_size,
                             "oid": hashlib.sha1((folder / f).read_bytes()).hexdigest()} for f in files[repo]]
                    return self.reply(json.dumps(tree).encode(), head)
                if path == f"/api/models/{repo}/revision/main" or path == f"/api/models/{repo}":
                    info = {"id": repo, "sha": SHA, "siblings": [{"rfilename": f} for f in files[repo]]}
                    return self.reply(json.dumps(info).encode(), head)
                prefix = f"/{repo}/resolve/"
                if path.startswith(prefix):
                    name = path[len(prefix):].split("/", 1)[1]
                    if name in files[repo]:
                        body = (folder / name).read_bytes()
                        return self.reply(body, head, headers={"X-Repo-Commit": SHA,
                                                               "ETag": f'"{hashlib.sha1(body).hexdigest()}"'})
            self.reply(b'{"error": "Repository not found"}', head, 404, {"X-Error-Code": "RepoNotFound"})

        def do_GET(self):
            self.route(False)

        def do_HEAD(self):
            self.route(True)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", requests
    finally:
        server.shutdown()
        server.server_close()


def hub_at(endpoint: str, cache: Path, monkeypatch, offline: bool = False) -> None:
    """huggingface_hub fetching from `endpoint` into `cache` (or, offline, reading the cache only)."""
    from huggingface_hub import constants

    for name, value in (("HF_ENDPOINT", endpoint), ("HF_HUB_CACHE", str(cache)), ("HF_HUB_OFFLINE", "1" if offline else "0")):
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
