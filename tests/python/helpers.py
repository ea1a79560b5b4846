"""Helpers for the Python end-to-end suite: REST with `requests`, sockets
with the `python-socketio` client, and small files built in memory.

Written from the contract (/work/shared/API.md), not from the server. Every
wait has a timeout of at most WAIT seconds; nothing sleeps to synchronise:
absence is proven with a barrier (a later event that must come first).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass

import engineio
from engineio import packet as eio_packet
from engineio import payload as eio_payload
import requests
import socketio

CHAT_URL = os.environ.get("CHAT_URL", "http://127.0.0.1:3000").rstrip("/")
WAIT = 10  # seconds: the longest any single wait may take
PASSWORD = "correct horse battery"
TRANSPORTS = ("websocket", "polling")

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MESSAGE_FIELDS = (
    "id", "chat_id", "chat_kind", "sender_id", "kind",
    "text", "attachment", "client_id", "created_at",
)
ATTACHMENT_FIELDS = ("id", "filename", "content_type", "size", "sha256", "url")


def unique(prefix: str) -> str:
    """A fresh username (3-32 of A-Z a-z 0-9 _ . -)."""
    return f"{prefix[:12]}_{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- REST


@dataclass
class User:
    id: int
    username: str
    token: str

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """The REST side, one `requests.Session` for the whole run."""

    def __init__(self, base: str = CHAT_URL):
        self.base = base
        self.http = requests.Session()

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    def request(self, method: str, path: str, user: User | None = None, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if user is not None:
            headers.update(user.auth)
        return self.http.request(method, self.url(path), headers=headers, timeout=WAIT, **kw)

    def register(self, prefix: str) -> User:
        name = unique(prefix)
        r = self.request("POST", "/auth/register", json={"username": name, "password": PASSWORD})
        assert r.status_code == 201, (r.status_code, r.text)
        body = r.json()
        assert body["user"]["username"] == name
        return User(id=body["user"]["id"], username=name, token=body["token"])

    def send_message(self, sender: User, **body) -> dict:
        """POST /chats/send-message; returns the stored Message."""
        r = self.request("POST", "/chats/send-message", sender, json=body)
        assert r.status_code == 201, (r.status_code, r.text)
        return r.json()["message"]

    def upload(self, sender: User, filename: str, data: bytes,
               content_type: str = "application/octet-stream", **fields) -> requests.Response:
        """POST /uploads (multipart: `file` plus the target and other fields)."""
        form = {k: str(v) for k, v in fields.items()}
        return self.request("POST", "/uploads", sender, data=form,
                            files={"file": (filename, data, content_type)})

    def history(self, user: User, chat_id: int) -> list[dict]:
        r = self.request("GET", f"/chats/{chat_id}", user)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["messages"]


# ---------------------------------------------------------------- sockets


class _EngineIO(engineio.Client):
    """python-engineio's client with two of its races taken out, so that what
    the suite measures is the server, not the client's thread timing."""

    def _trigger_event(self, event, *args, **kwargs):
        # The stock client hands every incoming message to a new thread, so
        # two events can reach the handlers out of the order the server sent
        # them. The suite asserts on that order (barriers): dispatch each
        # message on the reading thread, one after the other, as sent.
        if event == "message":
            kwargs["run_async"] = False
        return super()._trigger_event(event, *args, **kwargs)

    def disconnect(self, abort=False, reason=None):
        # Over polling, the stock disconnect() queues CLOSE and flips the
        # state at once; a write loop that is just finishing a POST (say the
        # PONG to the server's first ping) then sees the new state and exits
        # without sending CLOSE, and disconnect() waits for the pending GET
        # until the server's next ping, 25 s later. (This server pings as
        # soon as a session opens, so a refused connect() hit it often.) So: get CLOSE onto the
        # wire first (bounded wait), then disconnect as usual.
        if self.state == "connected" and self.current_transport == "polling" \
                and self.write_loop_task is not None:
            self._send_packet(eio_packet.Packet(eio_packet.CLOSE))
            with self.queue.all_tasks_done:
                self.queue.all_tasks_done.wait_for(lambda: not self.queue.unfinished_tasks, timeout=WAIT)
        return super().disconnect(abort=abort, reason=reason)


# python-engineio refuses a polling response of more than 16 packets (a
# guard of its own; the JavaScript client has none) and drops the
# connection. A server may batch every packet it has queued into one poll
# response (engine.io's own server does), so a burst of events would look
# like a server fault. The maintainers' documented remedy is this class attribute.
eio_payload.Payload.max_decode_packets = 1024


class _Client(socketio.Client):
    def _engineio_client_class(self):
        return _EngineIO


class Refused(Exception):
    """A connection that the server refused: the client's exception plus the
    `connect_error` data it reported."""

    def __init__(self, error: socketio.exceptions.ConnectionError, data: list):
        super().__init__(f"{error!r}; connect_error data: {data!r}")
        self.error = error
        self.data = data


class Socket:
    """One python-socketio client that records every event in arrival order.

    Events are consumed by `expect` (the first unconsumed one of a name) or
    `next_event` (the first unconsumed one, whatever its name, so that a
    test can prove nothing came before it).
    """

    def __init__(self, label: str, transport: str):
        self.label = label
        self.transport = transport
        self.sio = _Client(reconnection=False, handle_sigint=False)
        self._cond = threading.Condition()
        self._events: list[list] = []  # [name, payload, consumed]
        self.connect_errors: list = []
        self.disconnects: list = []

        @self.sio.on("*")
        def _any(event, *args):
            self._record(event, args[0] if len(args) == 1 else list(args))

        @self.sio.event
        def connect_error(data=None):
            with self._cond:
                self.connect_errors.append(data)
                self._cond.notify_all()

        @self.sio.event
        def disconnect(reason=None):
            with self._cond:
                self.disconnects.append(reason)
                self._cond.notify_all()

    def _record(self, name: str, payload) -> None:
        with self._cond:
            self._events.append([name, payload, False])
            self._cond.notify_all()

    def connect(self, token: str | None = None, *, auth: dict | None = None,
                headers: dict | None = None, query: str = "") -> "Socket":
        if auth is None and token is not None:
            auth = {"token": token}
        try:
            self.sio.connect(CHAT_URL + query, auth=auth, headers=headers or {},
                             transports=[self.transport], wait_timeout=WAIT)
        except socketio.exceptions.ConnectionError as e:
            with self._cond:
                data = list(self.connect_errors)
            raise Refused(e, data) from e
        return self

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass

    @property
    def connected(self) -> bool:
        return self.sio.connected and not self.disconnects

    def call(self, event: str, *args, timeout: float = WAIT):
        """Emits `event` with `args` (none, one, or several) and an
        acknowledgement; returns the ack's value."""
        if not args:
            return self.sio.call(event, timeout=timeout)
        return self.sio.call(event, args[0] if len(args) == 1 else tuple(args), timeout=timeout)

    def call_ok(self, event: str, payload, *, timeout: float = WAIT) -> dict:
        ack = self.call(event, payload, timeout=timeout)
        assert isinstance(ack, dict) and ack.get("ok") is True, f"{self.label}: {event} acked {ack!r}"
        return ack

    def call_err(self, event: str, *args, code: str) -> dict:
        ack = self.call(event, *args)
        assert isinstance(ack, dict), f"{self.label}: {event} acked {ack!r}"
        assert ack.get("ok") is False, f"{self.label}: {event} acked {ack!r}"
        err = ack.get("error")
        assert isinstance(err, dict) and err.get("code") == code, \
            f"{self.label}: {event}: wanted {code}, acked {ack!r}"
        assert isinstance(err.get("message"), str) and err["message"], ack
        return err

    # -- waiting

    def _seen(self) -> list:
        return [(n, p) for n, p, _ in self._events]

    def expect(self, name: str, where=None, timeout: float = WAIT):
        """The payload of the first unconsumed `name` event (matching `where`)."""
        assert timeout <= WAIT
        def find():
            for rec in self._events:
                if not rec[2] and rec[0] == name and (where is None or where(rec[1])):
                    return rec
            return None
        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None or self.disconnects,
                                       timeout=timeout):
                raise AssertionError(f"{self.label}: no {name!r} within {timeout}s; got {self._seen()!r}")
            rec = find()
            if rec is None:
                raise AssertionError(f"{self.label}: disconnected ({self.disconnects!r}) waiting for {name!r}")
            rec[2] = True
            return rec[1]

    def next_event(self, ignore=("presence",), timeout: float = WAIT):
        """The first unconsumed event not named in `ignore`, as (name, payload)."""
        assert timeout <= WAIT
        def find():
            for rec in self._events:
                if not rec[2] and rec[0] not in ignore:
                    return rec
            return None
        with self._cond:
            if not self._cond.wait_for(lambda: find() is not None or self.disconnects, timeout=timeout):
                raise AssertionError(f"{self.label}: no event within {timeout}s; got {self._seen()!r}")
            rec = find()
            if rec is None:
                raise AssertionError(f"{self.label}: disconnected ({self.disconnects!r})")
            rec[2] = True
            return rec[0], rec[1]

    def received(self, name: str) -> list:
        """Every payload of `name` seen so far, consumed or not."""
        with self._cond:
            return [p for n, p, _ in self._events if n == name]


# ---------------------------------------------------------------- checks


def assert_message(m: dict, **expected) -> None:
    """`m` is a Message of the contract, with the given field values."""
    assert isinstance(m, dict), m
    missing = [f for f in MESSAGE_FIELDS if f not in m]
    assert not missing, f"Message lacks {missing}: {m!r}"
    assert isinstance(m["id"], int) and m["id"] > 0, m
    assert isinstance(m["chat_id"], int) and m["chat_id"] > 0, m
    assert m["chat_kind"] in ("direct", "group"), m
    assert isinstance(m["sender_id"], int), m
    assert m["kind"] in ("text", "file"), m
    assert TIME_RE.match(m["created_at"]), m["created_at"]
    if m["kind"] == "text":
        assert isinstance(m["text"], str) and m["attachment"] is None, m
    else:
        assert_attachment(m["attachment"])
    for k, v in expected.items():
        assert m[k] == v, f"Message.{k}: wanted {v!r}, got {m[k]!r} in {m!r}"


def assert_attachment(a: dict, **expected) -> None:
    assert isinstance(a, dict), a
    missing = [f for f in ATTACHMENT_FIELDS if f not in a]
    assert not missing, f"Attachment lacks {missing}: {a!r}"
    assert isinstance(a["id"], int) and a["id"] > 0, a
    assert isinstance(a["size"], int), a
    assert SHA256_RE.match(a["sha256"]), a
    assert a["url"].startswith(f"/files/{a['id']}/"), a
    for k, v in expected.items():
        assert a[k] == v, f"Attachment.{k}: wanted {v!r}, got {a[k]!r} in {a!r}"


def same_message(a: dict, b: dict) -> None:
    """Two views of one message agree on every contract field."""
    for f in MESSAGE_FIELDS:
        if f == "attachment" and a[f] is not None and b[f] is not None:
            # The signed URL may differ per copy; the file may not.
            for g in ATTACHMENT_FIELDS:
                if g != "url":
                    assert a[f][g] == b[f][g], (g, a, b)
        else:
            assert a[f] == b[f], (f, a, b)


# ---------------------------------------------------------------- files


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid RGB PNG (signature, IHDR, IDAT, IEND)."""
    raw = b"".join(
        b"\x00" + b"".join(bytes([(x * 97 + y * 31) % 256, 0x80, (255 - x) % 256]) for x in range(width))
        for y in range(height))  # filter byte 0, then RGB pixels, per row
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def pdf() -> bytes:
    """A small PDF: header, one empty catalog, trailer, %%EOF."""
    return (b"%PDF-1.4\n"
            b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n"
            b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")


GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
TEXT = b"just some plain text, not an image\n"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
