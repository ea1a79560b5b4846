//! Sending a message: one operation (validate → store → broadcast) behind
//! both doors, `POST /chats/send-message` and the `send_message` /
//! `group_message` socket events; file messages come through here too
//! (`uploads`).

use serde::Deserialize;

use crate::domain::{ChatTarget, ClientId, MessageText, TargetFields, parse_id};
use crate::error::Result;
use crate::events::{Event, Origin, Outbox};
use crate::limits::Limit;
use crate::state::AppState;
use crate::store::{NewSend, Sent};

/// The JSON body of a text send, as both doors receive it.
#[derive(Debug, Default, Deserialize)]
pub struct SendMessageBody {
    pub to: Option<i64>,
    pub chat_id: Option<i64>,
    pub group_id: Option<i64>,
    pub text: Option<String>,
    pub client_id: Option<String>,
    /// v2: the message of the same chat this one answers.
    pub reply_to: Option<i64>,
}

/// A text message, parsed.
#[derive(Debug, Clone)]
pub struct SendText {
    pub target: ChatTarget,
    pub text: MessageText,
    pub client_id: Option<ClientId>,
    pub reply_to: Option<i64>,
}

impl SendText {
    pub fn parse(body: SendMessageBody) -> Result<Self> {
        let target = ChatTarget::parse(&TargetFields {
            to: body.to,
            chat_id: body.chat_id,
            group_id: body.group_id,
        })?;
        Ok(SendText {
            target,
            text: MessageText::parse(body.text)?,
            client_id: ClientId::parse(body.client_id)?,
            reply_to: body.reply_to.map(|id| parse_id(id, "reply_to")).transpose()?,
        })
    }
}

/// Tells the chat about a committed send: a new direct chat's members join
/// its room first, then the message goes out (not for a repeat).
fn publish_sent(outbox: &Outbox, sent: &Sent, origin: Origin) {
    if !sent.created {
        return;
    }
    metrics::counter!("chat_messages_stored_total").increment(1);
    if let Some(user_ids) = &sent.new_chat_members {
        outbox.publish(Event::JoinedChat {
            chat_id: sent.message.chat_id,
            user_ids: user_ids.clone(),
        });
    }
    outbox.publish_logged(&sent.events, origin);
}

/// Stores a message and, once committed, broadcasts it to the chat: the one
/// path every text and file message takes, from REST and Socket.IO alike.
/// A repeated `client_id` returns the earlier message instead.
pub async fn store_and_publish(state: &AppState, send: NewSend, origin: Origin) -> Result<Sent> {
    let outbox = state.outbox.clone();
    state
        .store
        .send_message(send, Box::new(move |sent| publish_sent(&outbox, sent, origin)))
        .await
}

/// Stores a text message and, once committed, broadcasts it to the chat.
pub async fn send_text(state: &AppState, sender: i64, request: SendText, origin: Origin) -> Result<Sent> {
    state.limits.check_user(Limit::Send, sender)?;
    let send = NewSend {
        sender,
        target: request.target,
        client_id: request.client_id,
        text: Some(request.text),
        file: None,
        reply_to: request.reply_to,
    };
    store_and_publish(state, send, origin).await
}
