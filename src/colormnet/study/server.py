"""``colormnet study serve``: a small local web server (standard library only) for the observers.

Routes: ``/`` welcome + observer id; ``GET /vote?observer=ID`` the next clip this observer has not
judged, in a random order of clips, with the results freshly shuffled on every page view;
``POST /vote`` records the choice (303 to the next clip; 409 when this observer already judged that
clip); ``/media/...`` the study's media files (with HTTP range requests, which video players use).
``study.json`` and the votes are never served.
"""

from __future__ import annotations

import logging
import mimetypes
import random
import re
from datetime import datetime, timezone
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from colormnet.study import page
from colormnet.study.folder import VOTES_FILE, load_study
from colormnet.study.votes import OBSERVER_ID, VoteLog

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_rng = random.SystemRandom()


class StudyServer(ThreadingHTTPServer):
    """Holds the study (read once) and its vote log for the request handlers."""

    daemon_threads = True

    def __init__(self, folder: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
        self.folder = Path(folder).resolve()
        self.meta = load_study(self.folder)
        self.groups = {g["id"]: g for g in self.meta["groups"]}
        self.votes = VoteLog(self.folder / VOTES_FILE)
        super().__init__((host, port), partial(_Handler))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"


class _Handler(BaseHTTPRequestHandler):
    server: StudyServer
    server_version = "colormnet-study"

    def log_message(self, fmt: str, *args) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    # -- helpers -------------------------------------------------------------------------------------
    def _html(self, text: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _error(self, status: HTTPStatus, text: str, observer: str = "") -> None:
        self._html(page.message_page(self.server.meta, text, observer=observer, error=True), status)

    # -- routes ----------------------------------------------------------------------------------------
    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/":
            self._html(page.start_page(self.server.meta))
        elif url.path == "/vote":
            observer = (parse_qs(url.query).get("observer") or [""])[0].strip()
            self._next_group(observer)
        elif url.path.startswith("/media/"):
            self._media(unquote(url.path[1:]))
        elif url.path == "/favicon.ico":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
        else:
            self._error(HTTPStatus.NOT_FOUND, f"no page {url.path}")

    def _next_group(self, observer: str) -> None:
        meta = self.server.meta
        if not OBSERVER_ID.match(observer):
            self._html(page.start_page(meta, "Please enter an observer id: letters, digits, _ . @ - "
                                             "(at most 64, starting with a letter or digit)."),
                       HTTPStatus.BAD_REQUEST)
            return
        done = self.server.votes.groups_voted(observer)
        remaining = [g for g in meta["groups"] if g["id"] not in done]
        if not remaining:
            self._html(page.message_page(meta, f"Thank you, {observer}: you have judged all "
                                               f"{len(meta['groups'])} clips."))
            return
        group = _rng.choice(remaining)
        tokens = list(group["outputs"])
        _rng.shuffle(tokens)
        self._html(page.group_page(meta, group, tokens, observer, len(meta["groups"]) - len(remaining)))

    def do_POST(self) -> None:  # noqa: N802
        if urlsplit(self.path).path != "/vote":
            self._error(HTTPStatus.NOT_FOUND, f"no page {self.path}")
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= 64 * 1024:
            self._error(HTTPStatus.BAD_REQUEST, "bad request size")
            return
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
        observer, gid, choice = form.get("observer", ""), form.get("group", ""), form.get("choice", "")
        group = self.server.groups.get(gid)
        order = [t for t in form.get("order", "").split(",") if t]
        if not OBSERVER_ID.match(observer) or group is None or choice not in group.get("outputs", {}):
            self._error(HTTPStatus.BAD_REQUEST, "This choice does not belong to the study; start again.")
            return
        if sorted(order) != sorted(group["outputs"]):
            order = []  # not what the page sent: keep the vote, drop the position record
        outputs = group["outputs"]
        vote = {"observer": observer, "group": gid, "method": outputs[choice]["method"], "token": choice,
                "position": order.index(choice) if order else None,
                "shown": [outputs[t]["method"] for t in order],
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        if not self.server.votes.add(vote):
            self._error(HTTPStatus.CONFLICT, f"Observer {observer} has already chosen a result for this clip; "
                                             "the first choice counts.", observer)
            return
        log.info("vote: %s chose %s on %s", observer, vote["method"], gid)
        self._redirect(f"/vote?observer={observer}")

    def _media(self, rel: str) -> None:
        root = (self.server.folder / "media").resolve()
        path = (self.server.folder / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            self._error(HTTPStatus.NOT_FOUND, "no such file")
            return
        size = path.stat().st_size
        start, end, status = 0, size - 1, HTTPStatus.OK
        m = _RANGE.match(self.headers.get("Range", "").strip())
        if m and (m[1] or m[2]):
            if m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            else:
                start = max(0, size - int(m[2]))
            if start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.end_headers()
                return
            status = HTTPStatus.PARTIAL_CONTENT
        self.send_response(status)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command == "HEAD":
            return
        with open(path, "rb") as f:
            f.seek(start)
            left = end - start + 1
            try:
                while left > 0:
                    chunk = f.read(min(left, 1 << 16))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the browser stopped reading (normal for video)
                pass


def serve(folder: str | Path, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve the study until Ctrl-C."""
    server = StudyServer(folder, host, port)
    print(f"study '{server.meta['title']}': {len(server.groups)} clips, votes in {server.votes.path}")
    print(f"observers open {server.url}  (Ctrl-C stops; votes are saved as they come)")
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"listening on {host}: anyone who can reach this machine can vote")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.server_close()
