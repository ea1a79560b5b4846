//! Groups and catch-up across two nodes on one PostgreSQL database and
//! Redis (run when the suite runs on PostgreSQL): a member removed through
//! one node hears nothing of the group afterwards on the other, not even a
//! message sent right after the removal's answer; `seq` is one order for
//! both nodes; a socket that reconnects with `since` during a flood of
//! sends through both nodes misses nothing and gets nothing twice, and
//! ends with the model of a socket that never left.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::catchup::all_events;
use crate::helpers::on_postgres;
use crate::socket::{Auth, SocketClient};
use crate::two_nodes::two_nodes;

fn seqs(events: &[(String, Value)]) -> Vec<i64> {
    events
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "presence" | "typing" | "caught_up"))
        .filter_map(|(_, data)| data["seq"].as_i64())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_removed_on_one_node_hears_nothing_more_on_the_other() {
    if !on_postgres() {
        eprintln!("skipped: two nodes share a PostgreSQL database");
        return;
    }
    let (a, b, _prefix) = two_nodes().await;
    let alice = a.register("alice").await;
    let carol = a.register("carol").await;
    let dave = b.register("dave").await;
    let group = a.create_group(&alice, "Two nodes", &[&carol, &dave]).await;
    let id = group["id"].as_i64().unwrap();
    let mut dave_on_b = SocketClient::of(&b, &dave).await;
    let mut carol_on_b = SocketClient::of(&b, &carol).await;

    let (status, _) = a
        .request(
            Method::DELETE,
            &format!("/groups/{id}/members/{}", dave.id),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // Right after the answer, through both nodes.
    a.send(&alice, json!({ "group_id": id }), "from a after").await;
    b.send(&carol, json!({ "group_id": id }), "from b after").await;
    carol_on_b.emit("typing", json!({ "chat_id": id, "typing": true }));

    let removed = dave_on_b.expect("member_removed").await;
    assert_eq!(
        (removed["user_id"].as_i64(), removed["reason"].as_str()),
        (Some(dave.id), Some("removed"))
    );
    dave_on_b.settle(&b, &dave).await;
    dave_on_b.settle(&a, &dave).await;
    assert!(
        dave_on_b
            .buffered("receive_message")
            .iter()
            .all(|m| m["chat_id"] != id)
    );
    assert!(dave_on_b.buffered("typing").is_empty());
    for text in ["from a after", "from b after"] {
        carol_on_b
            .expect_where("receive_message", |m| m["text"] == text)
            .await;
    }
    // Both nodes list the same events, in one seq order.
    let on_a = all_events(&a, &carol, 0).await;
    let on_b = all_events(&b, &carol, 0).await;
    assert_eq!(on_a.len(), on_b.len());
    let order: Vec<i64> = on_a.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reconnect_during_a_flood_through_both_nodes_misses_nothing_and_repeats_nothing() {
    if !on_postgres() {
        eprintln!("skipped: two nodes share a PostgreSQL database");
        return;
    }
    let (a, b, _prefix) = two_nodes().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = a.register("carol").await;
    let group = a.create_group(&alice, "Flood", &[&bob, &carol]).await;
    let id = group["id"].as_i64().unwrap();
    let mut stayed = SocketClient::of(&a, &carol).await;
    let (_, page) = a.get("/events?limit=1", Some(&carol.token)).await;
    let since = page["latest_seq"].as_i64().unwrap();

    let mut floods = Vec::new();
    for (node, from) in [(Arc::clone(&a), alice.clone()), (Arc::clone(&b), bob.clone())] {
        floods.push(tokio::spawn(async move {
            for n in 0..150 {
                node.send(&from, json!({ "group_id": id }), &format!("{} {n}", from.id))
                    .await;
                if n % 50 == 25 {
                    // Changes other than sends, in the middle of it.
                    let (_, history) = node
                        .get(&format!("/groups/{id}/messages?limit=1"), Some(&from.token))
                        .await;
                    let last = history["messages"][0]["id"].as_i64().unwrap();
                    node.request(
                        Method::PUT,
                        &format!("/messages/{last}/reactions/ok"),
                        Some(&from.token),
                        None,
                    )
                    .await;
                }
            }
        }));
    }
    // Several reconnects on each node while it floods.
    let mut back = Vec::new();
    for node in [&a, &b, &a, &b] {
        back.push(
            SocketClient::connect(node, Auth::Since(&carol.token, since))
                .await
                .unwrap(),
        );
    }
    for flood in floods {
        flood.await.unwrap();
    }
    let expected: Vec<i64> = all_events(&a, &carol, since)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(expected.len() >= 300, "{}", expected.len());
    let last_seq = *expected.last().unwrap();
    // The one that stayed: the reference model.
    stayed.until(|_, d| d["seq"] == last_seq).await;
    let mut reference = seqs(&stayed.take_all());
    reference.sort_unstable();
    reference.dedup();
    assert_eq!(
        reference, expected,
        "the socket that never left got every event once"
    );
    for socket in &mut back {
        socket.until(|_, d| d["seq"] == last_seq).await;
        let mut got = seqs(&socket.take_all());
        let total = got.len();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), total, "a duplicate");
        assert_eq!(got, expected, "a gap, or something extra");
    }
}
