"""Direct messages reach every socket of the two users except the sending
socket, and no one else's."""

import threading

from helpers import WAIT, assert_message, same_message


def test_direct_message_reaches_the_right_sockets_only(api, register, connect):
    alice, bob, carol, dave = (register(n) for n in ("alice", "bob", "carol", "dave"))
    alice1 = connect(alice, "alice-1")
    alice2 = connect(alice, "alice-2")
    bob1 = connect(bob, "bob")
    carol1 = connect(carol, "carol")

    ack = alice1.call_ok("send_message", {"to": bob.id, "text": "hi bob", "client_id": "py-direct-1"})
    sent = ack["message"]
    assert_message(sent, chat_kind="direct", sender_id=alice.id, kind="text",
                   text="hi bob", attachment=None, client_id="py-direct-1")

    got = bob1.expect("receive_message")
    assert_message(got)
    same_message(got, sent)
    # Stored before it was broadcast: bob's history already has it.
    assert sent["id"] in [m["id"] for m in api.history(bob, sent["chat_id"])]

    # Alice's other device gets her message; the sending socket does not.
    same_message(alice2.expect("receive_message"), sent)
    reply = bob1.call_ok("send_message", {"chat_id": sent["chat_id"], "text": "hi alice"})["message"]
    name, first = alice1.next_event()
    assert name == "receive_message" and first["id"] == reply["id"], (name, first)
    name, second = alice2.next_event()
    assert name == "receive_message" and second["id"] == reply["id"], (name, second)

    # Carol is in neither chat: the first thing she receives is a message of
    # her own, sent after all of the above.
    barrier = api.send_message(dave, to=carol.id, text="barrier for carol")
    name, first = carol1.next_event()
    assert name == "receive_message", (name, first)
    same_message(first, barrier)

    # And bob never gets his own reply back: next is a later message.
    later = api.send_message(alice, to=bob.id, text="barrier for bob")
    name, first = bob1.next_event()
    assert name == "receive_message" and first["id"] == later["id"], (name, first)


def test_message_sent_over_rest_reaches_every_socket_of_both(api, register, connect):
    alice, bob = register("alice"), register("bob")
    alice1, bob1 = connect(alice, "alice"), connect(bob, "bob")
    sent = api.send_message(alice, to=bob.id, text="over REST")
    # No socket sent it, so the sender's socket gets it too.
    same_message(bob1.expect("receive_message"), sent)
    same_message(alice1.expect("receive_message"), sent)


def test_client_id_makes_a_send_idempotent(api, register, connect):
    alice, bob = register("alice"), register("bob")
    alice1, bob1 = connect(alice, "alice"), connect(bob, "bob")
    body = {"to": bob.id, "text": "once", "client_id": "py-idem"}
    first = alice1.call_ok("send_message", body)["message"]
    again = alice1.call_ok("send_message", body)["message"]
    assert again["id"] == first["id"]
    assert bob1.expect("receive_message")["id"] == first["id"]
    barrier = api.send_message(alice, to=bob.id, text="after the retry")
    name, nxt = bob1.next_event()
    assert name == "receive_message" and nxt["id"] == barrier["id"], "the retry was broadcast again"


def test_a_burst_arrives_whole_once_and_in_id_order(register, connect):
    """Sends pipelined without waiting for acks: each is acked, and every
    other socket gets each message once, in increasing id order (ids grow
    in commit order, and a client resumes from the last id it saw)."""
    alice, bob = register("alice"), register("bob")
    alice1, alice2, bob1 = connect(alice, "alice-1"), connect(alice, "alice-2"), connect(bob, "bob")
    n = 40  # under the per-user send burst
    acks, done = [], threading.Event()
    lock = threading.Lock()

    def on_ack(ack):
        with lock:
            acks.append(ack)
            if len(acks) == n:
                done.set()

    for i in range(n):
        alice1.sio.emit("send_message", {"to": bob.id, "text": f"burst {i}"}, callback=on_ack)
    assert done.wait(WAIT), f"{len(acks)} of {n} acks"
    assert all(a.get("ok") is True for a in acks), [a for a in acks if not a.get("ok")]
    ids = sorted(a["message"]["id"] for a in acks)
    assert len(set(ids)) == n
    for sock in (bob1, alice2):
        got = [sock.expect("receive_message")["id"] for _ in range(n)]
        assert got == ids, f"{sock.label} got {got}"
    # ...and nothing more.
    barrier = bob1.call_ok("send_message", {"to": alice.id, "text": "done"})["message"]
    name, first = alice2.next_event()
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)
