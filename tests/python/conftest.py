"""Fixtures: the REST client, fresh users, and sockets on each transport.

Every test that asks for `transport` (all the socket tests do, through
`connect`) runs twice: once over WebSocket, once over HTTP long-polling.
"""

import pytest

from helpers import TRANSPORTS, Api, Socket, User


@pytest.fixture(scope="session")
def api() -> Api:
    api = Api()
    r = api.request("GET", "/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
    return api


@pytest.fixture
def register(api):
    """register("alice") -> a new User with a unique name."""
    return api.register


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture
def connect(transport):
    """connect(user, label=None) -> a connected Socket on this test's
    transport; every socket is closed when the test ends."""
    opened: list[Socket] = []

    def open_socket(user: User | None = None, label: str | None = None, **kw) -> Socket:
        sock = Socket(label or (user.username if user else "anonymous"), transport)
        opened.append(sock)
        return sock.connect(user.token if user else None, **kw)

    yield open_socket
    for sock in opened:
        sock.close()
