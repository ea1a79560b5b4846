"""Groups over the socket: creation, group messages to every member socket
but the sender's, nothing to outsiders, and members added later."""

from helpers import TIME_RE, assert_message, same_message


def _assert_group(g, *, name, owner, members):
    assert g["kind"] == "group" and g["name"] == name and g["created_by"] == owner.id, g
    assert TIME_RE.match(g["created_at"]), g
    roles = {m["user_id"]: m["role"] for m in g["members"]}
    assert roles == {u.id: ("owner" if u is owner else "member") for u in members}, g


def test_group_create_and_messages(api, register, connect):
    alice, bob, carol, dave = (register(n) for n in ("alice", "bob", "carol", "dave"))
    alice1, alice2 = connect(alice, "alice-1"), connect(alice, "alice-2")
    bob1, carol1, dave1 = connect(bob, "bob"), connect(carol, "carol"), connect(dave, "dave")

    group = alice1.call_ok("create_group", {"name": "py crew", "member_ids": [bob.id, carol.id]})["group"]
    _assert_group(group, name="py crew", owner=alice, members=[alice, bob, carol])
    for sock in (alice2, bob1, carol1):
        created = sock.expect("group_created")["group"]
        assert created["id"] == group["id"], (sock.label, created)
        _assert_group(created, name="py crew", owner=alice, members=[alice, bob, carol])

    # join_group: idempotent for a member, refused to an outsider.
    assert bob1.call_ok("join_group", {"group_id": group["id"]})["group"]["id"] == group["id"]
    dave1.call_err("join_group", {"group_id": group["id"]}, code="not_a_member")

    sent = alice1.call_ok("group_message", {"group_id": group["id"], "text": "hello crew"})["message"]
    assert_message(sent, chat_id=group["id"], chat_kind="group", sender_id=alice.id, text="hello crew")
    for sock in (alice2, bob1, carol1):
        same_message(sock.expect("receive_message"), sent)

    # Not back to the sending socket: bob's answer is the next thing it gets.
    answer = bob1.call_ok("group_message", {"group_id": group["id"], "text": "hi alice"})["message"]
    name, first = alice1.next_event(ignore=("presence", "group_created"))
    assert name == "receive_message" and first["id"] == answer["id"], (name, first)

    # An outsider can't post, and nothing of the group reached them.
    dave1.call_err("group_message", {"group_id": group["id"], "text": "let me in"}, code="not_a_member")
    barrier = api.send_message(bob, to=dave.id, text="barrier for dave")
    name, first = dave1.next_event()
    assert name == "receive_message" and first["id"] == barrier["id"], (name, first)

    # Nor did dave's refused attempt reach a member: after bob's answer,
    # carol's next group message is a later one.
    assert carol1.expect("receive_message")["id"] == answer["id"]
    final = api.send_message(alice, group_id=group["id"], text="final")
    name, first = carol1.next_event()
    assert name == "receive_message" and first["id"] == final["id"], (name, first)


def test_member_added_later_gets_events_on_open_sockets(api, register, connect):
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    r = api.request("POST", "/groups", alice, json={"name": "later", "member_ids": [bob.id]})
    assert r.status_code == 201, r.text
    group = r.json()["group"]
    bob1, carol1 = connect(bob, "bob"), connect(carol, "carol")

    r = api.request("POST", f"/groups/{group['id']}/add-user", alice, json={"user_id": carol.id})
    assert r.status_code == 200, r.text
    added = carol1.expect("added_to_group")["group"]
    assert added["id"] == group["id"] and carol.id in [m["user_id"] for m in added["members"]]
    member = bob1.expect("member_added")
    assert member["group_id"] == group["id"] and member["member"]["user_id"] == carol.id, member
    assert member["member"]["role"] == "member", member

    # Carol's socket, open since before she was added, now gets the group's
    # messages without join_group.
    sent = bob1.call_ok("group_message", {"group_id": group["id"], "text": "welcome carol"})["message"]
    same_message(carol1.expect("receive_message"), sent)
