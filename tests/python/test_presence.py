"""`presence` goes to the users who share a chat with someone, when that
user's first socket connects and when their last one disconnects."""

from helpers import TIME_RE


def test_presence_on_first_connect_and_last_disconnect(api, register, connect):
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    api.send_message(alice, to=bob.id, text="we share a chat")
    alice1, carol1 = connect(alice, "alice"), connect(carol, "carol")

    bob1 = connect(bob, "bob-1")
    online = alice1.expect("presence")
    assert online["user_id"] == bob.id and online["online"] is True, online
    assert online["last_seen_at"] is None or TIME_RE.match(online["last_seen_at"]), online

    # A second socket is not a new arrival, nor is its leaving a departure.
    bob2 = connect(bob, "bob-2")
    bob2.close()
    bob1.close()
    offline = alice1.expect("presence")
    assert offline["user_id"] == bob.id and offline["online"] is False, offline
    assert TIME_RE.match(offline["last_seen_at"]), offline
    assert alice1.received("presence") == [online, offline]
    barrier = api.send_message(bob, to=alice.id, text="barrier")
    name, first = alice1.next_event(ignore=())
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)

    # Carol shares no chat with bob: she heard nothing of it.
    barrier = api.send_message(alice, to=carol.id, text="barrier")
    name, first = carol1.next_event(ignore=())
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)
