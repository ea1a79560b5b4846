"""Malformed payloads get a `validation_failed` ack (an unknown event
`not_found`), never silence or a dropped connection."""

import pytest

CASES = {
    "send_message: no payload": ("send_message", ()),
    "send_message: string that is not JSON": ("send_message", ('{"to": 1, "text": ',)),
    "send_message: plain words": ("send_message", ("hello there",)),
    "send_message: a number": ("send_message", (42,)),
    "send_message: a list": ("send_message", ([1, 2],)),
    "send_message: {}": ("send_message", ({},)),
    "send_message: text missing": ("send_message", ({"to": "BOB"},)),
    "send_message: text a number": ("send_message", ({"to": "BOB", "text": 123},)),
    "send_message: to a string": ("send_message", ({"to": "bob", "text": "hi"},)),
    "group_message: group_id missing": ("group_message", ({"text": "hi"},)),
    "create_group: name a number": ("create_group", ({"name": 5},)),
    "typing: chat_id missing": ("typing", ({"typing": True},)),
    "typing: typing not a bool": ("typing", ({"chat_id": "CHAT", "typing": "yes"},)),
    "mark_read: negative message_id": ("mark_read", ({"chat_id": "CHAT", "message_id": -1},)),
    "mark_read: message_id missing": ("mark_read", ({"chat_id": "CHAT"},)),
    "send_file: data missing": ("send_file", ({"to": "BOB", "filename": "a.png"},)),
    "join_group: group_id a string": ("join_group", ({"group_id": "one"},)),
}


@pytest.fixture(scope="module")
def pairs(api):
    """Per transport, two users with a direct chat, shared by this module's
    tests (fewer registrations; each sender stays well under the per-user
    send limit)."""
    made = {}

    def pair_for(transport):
        if transport not in made:
            alice, bob = api.register("alice"), api.register("bob")
            chat_id = api.send_message(alice, to=bob.id, text="start")["chat_id"]
            made[transport] = (alice, bob, chat_id)
        return made[transport]

    return pair_for


@pytest.fixture
def pair(pairs, transport):
    return pairs(transport)


def _fill(value, bob_id, chat_id):
    if value == "BOB":
        return bob_id
    if value == "CHAT":
        return chat_id
    if isinstance(value, dict):
        return {k: _fill(v, bob_id, chat_id) for k, v in value.items()}
    return value


@pytest.mark.parametrize("case", CASES)
def test_malformed_payload_is_answered_and_the_socket_kept(pair, connect, case):
    alice, bob, chat_id = pair
    event, args = CASES[case]
    args = tuple(_fill(a, bob.id, chat_id) for a in args)
    sock = connect(alice, "alice")
    sock.call_err(event, *args, code="validation_failed")
    assert sock.connected
    ack = sock.call_ok("send_message", {"to": bob.id, "text": f"after {case}"})
    assert ack["message"]["text"] == f"after {case}"


def test_unknown_event_is_not_found(pair, connect):
    alice, bob, _ = pair
    sock = connect(alice, "alice")
    sock.call_err("no_such_event", {"x": 1}, code="not_found")
    assert sock.connected
    sock.call_ok("send_message", {"to": bob.id, "text": "after an unknown event"})


ERRORS = {
    "empty text": ("send_message", {"to": "BOB", "text": ""}, "message_empty"),
    "white-space text": ("send_message", {"to": "BOB", "text": " \n\t "}, "message_empty"),
    "4001 characters": ("send_message", {"to": "BOB", "text": "x" * 4001}, "message_too_long"),
    "two targets": ("send_message", {"to": "BOB", "chat_id": "CHAT", "text": "hi"}, "validation_failed"),
    "client_id of 65": ("send_message", {"to": "BOB", "text": "hi", "client_id": "c" * 65}, "validation_failed"),
    "no such user": ("send_message", {"to": 2_000_000_000, "text": "hi"}, "user_not_found"),
    "group name empty": ("create_group", {"name": ""}, "validation_failed"),
    "group member unknown": ("create_group", {"name": "g", "member_ids": [2_000_000_000]}, "user_not_found"),
}


@pytest.mark.parametrize("case", ERRORS)
def test_invalid_request_gets_its_error_code(pair, connect, case):
    alice, bob, chat_id = pair
    event, payload, code = ERRORS[case]
    sock = connect(alice, "alice")
    sock.call_err(event, _fill(payload, bob.id, chat_id), code=code)
    assert sock.connected


def test_4000_characters_are_accepted(pair, connect):
    alice, bob, _ = pair
    sock = connect(alice, "alice")
    text = "\u00e9" * 4000  # characters, not bytes
    assert sock.call_ok("send_message", {"to": bob.id, "text": text})["message"]["text"] == text
