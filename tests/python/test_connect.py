"""Connecting: a good token is let in (in `auth`, a header or the query);
a missing or bad one is refused with `unauthorized`."""

import pytest
import socketio

from helpers import Refused


def test_good_token_connects(register, connect):
    alice, bob = register("alice"), register("bob")
    sock = connect(alice)
    assert sock.sio.connected and sock.sio.sid
    assert sock.sio.transport() == sock.transport
    # The socket is really someone's: it can send as alice.
    ack = sock.call_ok("send_message", {"to": bob.id, "text": "hello"})
    assert ack["message"]["sender_id"] == alice.id


@pytest.mark.parametrize("how", ["header", "query"])
def test_token_in_header_or_query(register, connect, how):
    alice, bob = register("alice"), register("bob")
    if how == "header":
        sock = connect(None, label="alice-header", auth={},
                       headers={"Authorization": f"Bearer {alice.token}"})
    else:
        sock = connect(None, label="alice-query", auth={}, query=f"/?token={alice.token}")
    ack = sock.call_ok("send_message", {"to": bob.id, "text": f"by {how}"})
    assert ack["message"]["sender_id"] == alice.id


def _tampered(token: str) -> str:
    # Flip the last character of the signature.
    return token[:-1] + ("A" if token[-1] != "A" else "B")


@pytest.mark.parametrize("case", ["no auth", "empty auth", "garbage token", "tampered token", "token not a string"])
def test_bad_or_missing_token_is_refused(register, connect, case):
    alice = register("alice")
    auth = {
        "no auth": None,
        "empty auth": {},
        "garbage token": {"token": "not-a-token"},
        "tampered token": {"token": _tampered(alice.token)},
        "token not a string": {"token": 12345},
    }[case]
    with pytest.raises(Refused) as refused:
        connect(None, label=case, auth=auth)
    # python-socketio raises its ConnectionError from connect() and hands
    # the server's CONNECT_ERROR payload to the `connect_error` handler.
    assert isinstance(refused.value.error, socketio.exceptions.ConnectionError)
    assert "failed to connect" in str(refused.value.error)
    data = refused.value.data
    assert len(data) == 1, data
    assert isinstance(data[0], dict) and data[0].get("message") == "unauthorized", data
