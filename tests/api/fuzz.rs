//! Hostile Socket.IO traffic: random and truncated Engine.IO / Socket.IO
//! frames, malformed payloads, bogus polling sessions. The server must stay
//! up and keep serving the well-behaved clients connected beside them.

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::helpers::spawn_app;
use crate::socket::SocketClient;

/// A small deterministic generator, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

const SEEDS: [&str; 24] = [
    "4",
    "40",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "2",
    "3",
    "5",
    "6",
    "1",
    "0",
    "42[\"send_message\",{\"to\":",
    "451-[\"send_file\",{\"data\":{\"_placeholder\":true,\"num\":0}}]",
    "4599999999-[\"x\"]",
    "42[\"send_message\",{\"to\":1,\"text\":\"x\"},{\"_placeholder\":true,\"num\":7}]",
    "421[\"typing\"",
    "40/admin,",
    "42/nope,[\"send_message\"]",
    "43999[\"ack\"]",
    "42[]",
    "42[1,2,3]",
];

fn hostile_frame(rng: &mut Rng) -> Frame {
    match rng.below(5) {
        0 => Frame::binary(rng.bytes(256)),
        1 => Frame::text(String::from_utf8_lossy(&rng.bytes(128)).to_string()),
        2 => {
            let seed = SEEDS[rng.below(SEEDS.len())];
            let cut = rng.below(seed.len() + 1);
            Frame::text(seed[..cut].to_string())
        }
        3 => {
            let seed = SEEDS[rng.below(SEEDS.len())];
            let junk = String::from_utf8_lossy(&rng.bytes(32)).to_string();
            Frame::text(format!("{seed}{junk}"))
        }
        _ => {
            let events = [
                "send_message",
                "group_message",
                "create_group",
                "join_group",
                "typing",
                "mark_read",
                "send_file",
                "zzz",
            ];
            let payloads = [
                "null",
                "1",
                "\"x\"",
                "[]",
                "{}",
                "{\"to\":-1,\"text\":\"\"}",
                "{\"group_id\":1e400}",
                "{\"chat_id\":\"1\"}",
            ];
            let ack = if rng.below(2) == 0 {
                rng.below(1000).to_string()
            } else {
                String::new()
            };
            Frame::text(format!(
                "42{ack}[\"{}\",{}]",
                events[rng.below(events.len())],
                payloads[rng.below(payloads.len())]
            ))
        }
    }
}

#[tokio::test]
async fn garbage_on_sockets_does_not_hurt_other_clients() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;
    let mut rng = Rng(0x5eed_cafe_f00d_1234);

    for round in 0..40 {
        let authed = round % 2 == 0;
        let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", app.addr);
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
            continue;
        };
        let _ = ws.next().await; // engine open
        if authed {
            let _ = ws
                .send(Frame::text(format!("40{}", json!({ "token": alice.token }))))
                .await;
        }
        for _ in 0..25 {
            if ws.send(hostile_frame(&mut rng)).await.is_err() {
                break; // the server hung up on us, as it may
            }
        }
        let _ = ws.close(None).await;
    }

    // Bogus long-polling traffic too.
    for body in ["", "40", "42[\"send_message\"", "\u{1e}\u{1e}4", "b4AAAA"] {
        let r = app
            .client
            .post(app.url("/socket.io/?EIO=4&transport=polling&sid=AAAAAAAAAAAAAAAAAAAA"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    let r = app
        .client
        .get(app.url("/socket.io/?EIO=3&transport=polling"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());

    // The well-behaved clients never noticed.
    let ack = bob_sock
        .emit_ack("send_message", json!({ "to": alice.id, "text": "still fine?" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    alice_sock
        .expect_where("receive_message", |m| m["text"] == "still fine?")
        .await;
    let mut fresh = SocketClient::of(&app, &bob).await;
    fresh.settle(&app, &bob).await;
    let (status, _) = app.get("/healthz", None).await;
    assert_eq!(status, 200);
}
