//! Chat events across nodes. The relay of the node that committed an event
//! delivers it to its own sockets and publishes it, with the relay's other
//! events of the moment in one message, on the cluster's channel
//! (`{prefix}-events`, on the adapter's pub/sub connection); every other
//! node delivers it to its own sockets through the same [`Live`] as its
//! own events, which is what makes a replay's hand-over exact on every
//! node. (Room joins and leaves, typing and presence still go through the
//! Socket.IO adapter.) A message published while Redis is away is lost to
//! the other nodes' live sockets; their clients catch up with `since`.

use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide_redis::drivers::Driver;

use super::live::Live;
use crate::cluster::HealingDriver;
use crate::credentials::FileSigner;
use crate::events::Logged;

#[derive(Serialize, Deserialize)]
struct Batch {
    node: String,
    events: Vec<Logged>,
}

/// Publishes this node's events to the others.
pub struct Fanout {
    driver: HealingDriver,
    channel: String,
    node: String,
}

impl Fanout {
    /// Subscribes to the other nodes' events (the handle is the task that
    /// delivers them: abort it at shutdown) and returns the publishing side.
    pub async fn start<A: Adapter>(
        io: SocketIo<A>,
        files: Arc<FileSigner>,
        live: Arc<Live>,
        driver: HealingDriver,
        prefix: &str,
        node: &str,
    ) -> std::io::Result<(Fanout, tokio::task::JoinHandle<()>)> {
        let channel = format!("{prefix}-events");
        let mut incoming = driver
            .subscribe(channel.clone(), 4096)
            .await
            .map_err(|e| std::io::Error::other(format!("--redis-url (events): {e}")))?;
        let own = node.to_string();
        let delivering = tokio::spawn(async move {
            while let Some((_, payload)) = incoming.next().await {
                let batch: Batch = match serde_json::from_slice(&payload) {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(error = %e, "an unreadable event batch on the cluster channel");
                        continue;
                    }
                };
                if batch.node == own {
                    continue;
                }
                for event in &batch.events {
                    super::relay::count_delivered(event, live.deliver(&io, &files, event, None));
                }
            }
        });
        let fanout = Fanout {
            driver,
            channel,
            node: node.to_string(),
        };
        Ok((fanout, delivering))
    }

    pub async fn publish(&self, events: Vec<Logged>) {
        let count = events.len();
        let batch = Batch {
            node: self.node.clone(),
            events,
        };
        let payload = match serde_json::to_vec(&batch) {
            Ok(payload) => payload,
            Err(e) => {
                tracing::error!(error = %e, "an event batch did not serialize");
                return;
            }
        };
        if let Err(e) = self.driver.publish(self.channel.clone(), payload).await {
            metrics::counter!("chat_cluster_broadcast_failures_total").increment(1);
            tracing::warn!(error = %e, events = count, "events not carried to the other nodes");
        }
    }
}
