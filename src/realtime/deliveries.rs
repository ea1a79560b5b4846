//! `chat_messages_delivered_total` across nodes. A message is emitted once,
//! by the node that committed it, and the adapter hands it to the sockets of
//! every other node, where nothing sees it go. So the relay counts the
//! recipients on its own node and notes which chat each message went to;
//! every [`FLUSH_EVERY`] the notes go out in one PUBLISH (on the adapter's
//! pub/sub connection), and every other
//! node adds the sockets it holds in those chats' rooms. Summed over the
//! nodes the counter is the cluster's deliveries (a remote share is counted
//! when the note arrives, from the room as it is then; a batch published
//! while Redis is away is lost to the metric, as the events are to the
//! other nodes).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide_redis::drivers::Driver;
use tokio::sync::mpsc;

use super::connect::chat_room;
use crate::cluster::HealingDriver;

/// How long notes gather before they go out.
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// The relay's side: which chat a message was emitted to.
#[derive(Clone)]
pub struct DeliveryNotes {
    tx: mpsc::UnboundedSender<i64>,
}

impl DeliveryNotes {
    pub fn note(&self, chat_id: i64) {
        let _ = self.tx.send(chat_id);
    }
}

/// One batch on the wire: `node\nchat_id,chat_id,…` (one id per message).
fn encode(node: &str, chat_ids: &[i64]) -> Vec<u8> {
    let ids: Vec<String> = chat_ids.iter().map(i64::to_string).collect();
    format!("{node}\n{}", ids.join(",")).into_bytes()
}

/// The sender and, per chat, how many messages went to it; `None` for what
/// is not a batch.
fn decode(payload: &[u8]) -> Option<(&str, HashMap<i64, u64>)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (node, ids) = text.split_once('\n')?;
    let mut per_chat = HashMap::new();
    for id in ids.split(',').filter(|s| !s.is_empty()) {
        *per_chat.entry(id.parse::<i64>().ok()?).or_insert(0) += 1;
    }
    Some((node, per_chat))
}

/// Subscribes to the other nodes' notes and starts sending this node's;
/// the handle is the task that counts the others' notes (abort it at
/// shutdown; the sending task ends with the last [`DeliveryNotes`]).
/// `driver` is the adapter's own pub/sub connection (a clone shares it).
pub async fn start<A: Adapter>(
    io: SocketIo<A>,
    driver: HealingDriver,
    prefix: &str,
    node: &str,
) -> std::io::Result<(DeliveryNotes, tokio::task::JoinHandle<()>)> {
    let channel = format!("{prefix}-delivered");
    let mut incoming = driver
        .subscribe(channel.clone(), 1024)
        .await
        .map_err(|e| std::io::Error::other(format!("--redis-url (delivery notes): {e}")))?;
    let own = node.to_string();
    let counter = io.clone();
    let counting = tokio::spawn(async move {
        while let Some((_, payload)) = incoming.next().await {
            let Some((from, per_chat)) = decode(&payload) else {
                continue;
            };
            if from == own {
                continue;
            }
            let Some(ns) = counter.of("/") else { return };
            let delivered: u64 = per_chat
                .into_iter()
                .map(|(chat_id, messages)| {
                    messages * ns.clone().local().to(chat_room(chat_id)).sockets().len() as u64
                })
                .sum();
            metrics::counter!("chat_messages_delivered_total").increment(delivered);
        }
    });

    let (tx, mut notes) = mpsc::unbounded_channel::<i64>();
    let node = node.to_string();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        let mut batch = Vec::new();
        loop {
            tick.tick().await;
            let open = loop {
                match notes.try_recv() {
                    Ok(chat_id) => batch.push(chat_id),
                    Err(mpsc::error::TryRecvError::Empty) => break true,
                    Err(mpsc::error::TryRecvError::Disconnected) => break false,
                }
            };
            if !batch.is_empty() {
                if let Err(e) = driver.publish(channel.clone(), encode(&node, &batch)).await {
                    tracing::debug!(error = %e, lost = batch.len(), "delivery notes not sent");
                }
                batch.clear();
            }
            if !open {
                return;
            }
        }
    });
    Ok((DeliveryNotes { tx }, counting))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip() {
        let wire = encode("n1", &[3, 7, 3]);
        let (node, per_chat) = decode(&wire).expect("a batch");
        assert_eq!(node, "n1");
        assert_eq!(per_chat, HashMap::from([(3, 2), (7, 1)]));
        assert!(decode(b"garbage").is_none());
        assert!(decode(b"n1\n1,x").is_none());
    }
}
