"""`typing` goes to the chat's other members; `mark_read` moves a read
marker forward and broadcasts `read` only when it moves."""


def test_typing_reaches_the_other_member(api, register, connect):
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    chat_id = api.send_message(alice, to=bob.id, text="hi")["chat_id"]
    alice1, alice2 = connect(alice, "alice-1"), connect(alice, "alice-2")
    bob1, carol1 = connect(bob, "bob"), connect(carol, "carol")

    alice1.call_ok("typing", {"chat_id": chat_id, "typing": True})
    assert bob1.expect("typing") == {"chat_id": chat_id, "user_id": alice.id, "typing": True}
    alice1.call_ok("typing", {"chat_id": chat_id, "typing": False})
    assert bob1.expect("typing") == {"chat_id": chat_id, "user_id": alice.id, "typing": False}

    # An outsider may not type into the chat.
    carol1.call_err("typing", {"chat_id": chat_id, "typing": True}, code="not_a_member")

    # Neither alice's other socket nor carol saw any of it.
    barrier = api.send_message(bob, to=alice.id, text="barrier")
    for sock in (alice1, alice2):
        name, first = sock.next_event()
        assert name == "receive_message" and first["id"] == barrier["id"], (sock.label, name, first)
    barrier = api.send_message(alice, to=carol.id, text="barrier")
    name, first = carol1.next_event()
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)


def test_mark_read_broadcasts_read_when_the_marker_moves(api, register, connect):
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    m1 = api.send_message(alice, to=bob.id, text="one")
    m2 = api.send_message(alice, to=bob.id, text="two")
    chat_id = m1["chat_id"]
    other = api.send_message(alice, to=carol.id, text="elsewhere")
    alice1, bob1, bob2 = connect(alice, "alice"), connect(bob, "bob-1"), connect(bob, "bob-2")

    bob1.call_ok("mark_read", {"chat_id": chat_id, "message_id": m2["id"]})
    told = alice1.expect("read")
    # A chat event (v2): its seq, the same for every recipient, after the message's.
    assert told["seq"] > m2["seq"], told
    want = {"chat_id": chat_id, "user_id": bob.id, "message_id": m2["id"], "seq": told["seq"]}
    assert told == want
    assert bob2.expect("read") == want
    r = api.request("GET", "/chats", bob)
    chat = next(c for c in r.json()["chats"] if c["id"] == chat_id)
    assert chat["unread_count"] == 0, chat

    # Backwards or the same again: accepted, the marker stays, no broadcast.
    bob1.call_ok("mark_read", {"chat_id": chat_id, "message_id": m1["id"]})
    bob1.call_ok("mark_read", {"chat_id": chat_id, "message_id": m2["id"]})
    # A message of another chat is not found.
    bob1.call_err("mark_read", {"chat_id": chat_id, "message_id": other["id"]}, code="not_found")

    barrier = api.send_message(bob, to=alice.id, text="barrier")
    name, first = alice1.next_event()
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)
    name, first = bob2.next_event()
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)
