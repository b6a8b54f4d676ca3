"""The HTTP side: a threaded server on 127.0.0.1, requests parsed the ways Slack accepts
(query, form, JSON, multipart), and the replies it writes (or a reset connection)."""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Request:
    method: str  # HTTP verb
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False

    @classmethod
    def json(cls, status: int, body: dict[str, Any], **headers: str) -> Reply:
        return cls(status, json.dumps(body).encode("utf-8"), headers=headers)

    @classmethod
    def text(cls, status: int, text: str) -> Reply:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")


class BadBody(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def parse_args(request: Request) -> dict[str, Any]:
    """Query string plus body: form-urlencoded, JSON or multipart, as Slack accepts."""
    args: dict[str, Any] = {
        k: v[-1] for k, v in parse_qs(request.query, keep_blank_values=True).items()
    }
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if not request.body:
        return args
    if kind == "application/json":
        try:
            body = json.loads(request.body.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            raise BadBody("invalid_json") from None
        if not isinstance(body, dict):
            raise BadBody("json_not_object")
        args.update(body)
    elif kind == "multipart/form-data":
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            args[name] = payload if part.get_filename() else payload.decode("utf-8")
    elif kind in ("application/x-www-form-urlencoded", ""):
        try:
            form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise BadBody("invalid_form_data") from None
        args.update({k: v[-1] for k, v in form.items()})
    else:
        raise BadBody("invalid_post_type")
    return args


class RequestHandler(BaseHTTPRequestHandler):
    server: Server
    timeout = 5  # idle connections cannot hold up stop()

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: no request lines on stderr

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(url.path),
            query=url.query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        reply = self.server.answer(request)
        if reply.reset:
            # SO_LINGER 0: closing sends a TCP RST instead of a clean FIN.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


class Server(ThreadingHTTPServer):
    daemon_threads = False  # so server_close() joins every request thread
    block_on_close = True

    def __init__(self, answer: Callable[[Request], Reply], on_error: Callable[[], None]) -> None:
        self.answer = answer
        self.on_error = on_error
        super().__init__(("127.0.0.1", 0), RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.on_error()
