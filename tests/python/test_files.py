"""Files both ways: `send_file` over the socket (bytes as a binary
attachment) and `POST /uploads` over REST, each received as `receive_file`
and downloaded again byte for byte through `attachment.url`."""

import pytest

from helpers import GIF, TEXT, assert_attachment, assert_message, pdf, png, same_message, sha256

FILES = {
    "png": ("dot.png", png(), "image/png"),
    "pdf": ("notes.pdf", pdf(), "application/pdf"),
}


def _check_download(api, attachment, data, content_type, *, member, outsider):
    # The signed URL works with no token at all (as in <img src>).
    r = api.request("GET", attachment["url"])
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.content == data
    assert sha256(r.content) == attachment["sha256"]
    assert r.headers["Content-Type"].split(";")[0].strip() == content_type
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert "sandbox" in r.headers.get("Content-Security-Policy", "")
    assert attachment["filename"] in r.headers.get("Content-Disposition", "")

    # Unsigned: a member's bearer token works, an outsider's is 403, none is 401.
    path = attachment["url"].split("?", 1)[0]
    r = api.request("GET", path, member)
    assert r.status_code == 200 and r.content == data, r.status_code
    r = api.request("GET", path, outsider)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_member", (r.status_code, r.text)
    r = api.request("GET", path)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", (r.status_code, r.text)


@pytest.mark.parametrize("kind", FILES)
def test_send_file_over_socket(api, register, connect, kind):
    filename, data, content_type = FILES[kind]
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    alice1, bob1 = connect(alice, "alice"), connect(bob, "bob")

    ack = alice1.call_ok("send_file", {"to": bob.id, "filename": filename, "data": data,
                                       "text": f"a {kind}", "client_id": f"py-file-{kind}"})
    sent = ack["message"]
    assert_message(sent, chat_kind="direct", sender_id=alice.id, kind="file", text=f"a {kind}",
                   client_id=f"py-file-{kind}")
    assert_attachment(sent["attachment"], filename=filename, content_type=content_type,
                      size=len(data), sha256=sha256(data))

    got = bob1.expect("receive_file")
    assert_message(got, kind="file")
    same_message(got, sent)
    _check_download(api, got["attachment"], data, content_type, member=bob, outsider=carol)
    _check_download(api, sent["attachment"], data, content_type, member=alice, outsider=carol)

    # And back the other way, into the same chat.
    back = bob1.call_ok("send_file", {"chat_id": sent["chat_id"], "filename": "back-" + filename,
                                      "data": data})["message"]
    same_message(alice1.expect("receive_file"), back)
    _check_download(api, back["attachment"], data, content_type, member=alice, outsider=carol)


def test_upload_over_rest_reaches_the_socket(api, register, connect):
    alice, bob, carol = register("alice"), register("bob"), register("carol")
    alice1, bob1 = connect(alice, "alice"), connect(bob, "bob")
    data = png(3, 5)
    # The type comes from the bytes, not from the name or the declared type.
    r = api.upload(alice, "picture.bin", data, "application/octet-stream", to=bob.id, text="via REST")
    assert r.status_code == 201, (r.status_code, r.text)
    sent = r.json()["message"]
    assert_message(sent, kind="file", sender_id=alice.id, text="via REST")
    assert_attachment(sent["attachment"], filename="picture.bin", content_type="image/png",
                      size=len(data), sha256=sha256(data))

    got = bob1.expect("receive_file")
    same_message(got, sent)
    # Sent over REST, so no socket is "the sending socket": alice's gets it too.
    same_message(alice1.expect("receive_file"), sent)
    _check_download(api, got["attachment"], data, "image/png", member=bob, outsider=carol)


@pytest.mark.parametrize("kind", ["gif", "text"])
def test_send_file_of_unsupported_type(api, register, connect, kind):
    filename, data = {"gif": ("anim.gif", GIF), "text": ("notes.txt", TEXT)}[kind]
    alice, bob = register("alice"), register("bob")
    alice1, bob1 = connect(alice, "alice"), connect(bob, "bob")
    alice1.call_err("send_file", {"to": bob.id, "filename": filename, "data": data},
                    code="unsupported_media_type")
    # Same over REST.
    r = api.upload(alice, filename, data, "image/png", to=bob.id)
    assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media_type", r.text
    # Nothing was broadcast, and the socket still works.
    ok = alice1.call_ok("send_message", {"to": bob.id, "text": "after the refusal"})["message"]
    name, first = bob1.next_event()
    assert name == "receive_message" and first["id"] == ok["id"], (name, first)


@pytest.mark.parametrize("filename", ["missing", "empty"])
def test_send_file_without_filename_is_validation_failed(register, connect, filename):
    """The contract lists `filename` as required for send_file."""
    alice, bob = register("alice"), register("bob")
    alice1, bob1 = connect(alice, "alice"), connect(bob, "bob")
    payload = {"to": bob.id, "data": png()}
    if filename == "empty":
        payload["filename"] = ""
    alice1.call_err("send_file", payload, code="validation_failed")
    # Nothing was stored or broadcast, and the socket still works.
    ok = alice1.call_ok("send_message", {"to": bob.id, "text": "still here"})["message"]
    name, first = bob1.next_event()
    assert name == "receive_message" and first["id"] == ok["id"], (name, first)
