//! Sending a message: one operation (validate → store → broadcast) behind
//! both doors, `POST /chats/send-message` and the `send_message` /
//! `group_message` socket events.

use serde::Deserialize;
use socketioxide::socket::Sid;

use super::access::resolve_target;
use crate::app::AppState;
use crate::domain::{
    ChatTarget, ClientId, FileName, Message, MessageKind, MessageText, TargetFields, Timestamp,
};
use crate::error::Result;
use crate::limits::Limit;
use crate::realtime::{Event, Outbox};
use crate::store::{self, NewAttachment, NewMessage};

/// The JSON body of a text send, as both doors receive it.
#[derive(Debug, Default, Deserialize)]
pub struct SendMessageBody {
    pub to: Option<i64>,
    pub chat_id: Option<i64>,
    pub group_id: Option<i64>,
    pub text: Option<String>,
    pub client_id: Option<String>,
}

/// A text message, parsed.
#[derive(Debug, Clone)]
pub struct SendText {
    pub target: ChatTarget,
    pub text: MessageText,
    pub client_id: Option<ClientId>,
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
        })
    }
}

/// What a send did.
#[derive(Debug)]
pub struct Sent {
    pub message: Message,
    /// False when `client_id` matched an earlier message, which is returned
    /// instead and not broadcast again.
    pub created: bool,
}

/// Where a send came from: the sending socket does not get its own message
/// back (the sender's other devices do).
pub type Origin = Option<Sid>;

/// Tells the chat about a committed send: a new direct chat's members join
/// its room first, then the message goes out (not for a repeat).
pub fn publish_sent(outbox: &Outbox, sent: &Sent, created_with: Option<&[i64]>, origin: Origin) {
    if !sent.created {
        return;
    }
    metrics::counter!("chat_messages_stored_total").increment(1);
    if let Some(user_ids) = created_with {
        outbox.publish(Event::JoinedChat {
            chat_id: sent.message.chat_id,
            user_ids: user_ids.to_vec(),
        });
    }
    outbox.publish(Event::Message {
        message: Box::new(sent.message.clone()),
        except: origin,
    });
}

/// The message `sender` already stored under `client_id`, if any: a retry
/// gets it back instead of making a second one.
pub fn earlier_send(
    conn: &rusqlite::Connection,
    sender: i64,
    client_id: Option<&ClientId>,
) -> Result<Option<Message>> {
    match client_id {
        Some(client_id) => store::message_by_client_id(conn, sender, client_id.as_str()),
        None => Ok(None),
    }
}

/// A message about to be stored: its target, its idempotency key, and what
/// it carries (text, or a stored file with an optional caption).
pub struct Outgoing {
    pub target: ChatTarget,
    pub client_id: Option<ClientId>,
    pub text: Option<MessageText>,
    pub file: Option<StoredFile>,
}

/// A file whose bytes are already in the blob store.
pub struct StoredFile {
    pub filename: FileName,
    pub content_type: &'static str,
    pub size: i64,
    pub sha256: String,
}

/// Stores a message and, once committed, broadcasts it to the chat: the one
/// path every text and file message takes, from REST and Socket.IO alike.
/// A repeated `client_id` returns the earlier message instead.
pub async fn store_and_publish(
    state: &AppState,
    sender: i64,
    outgoing: Outgoing,
    origin: Origin,
) -> Result<Sent> {
    let outbox = state.outbox.clone();
    let (mut sent, _) = state
        .db
        .write_then(
            move |conn| {
                let Outgoing {
                    target,
                    client_id,
                    text,
                    file,
                } = outgoing;
                if let Some(earlier) = earlier_send(conn, sender, client_id.as_ref())? {
                    return Ok((
                        Sent {
                            message: earlier,
                            created: false,
                        },
                        None,
                    ));
                }
                let now = Timestamp::now();
                let chat = resolve_target(conn, sender, target, now)?;
                let attachment = match &file {
                    Some(f) => Some(store::insert_attachment(
                        conn,
                        &NewAttachment {
                            chat_id: chat.id,
                            uploader_id: sender,
                            filename: f.filename.as_str(),
                            content_type: f.content_type,
                            size: f.size,
                            sha256: &f.sha256,
                        },
                        now,
                    )?),
                    None => None,
                };
                let message = store::insert_message(
                    conn,
                    &NewMessage {
                        chat_id: chat.id,
                        chat_kind: chat.kind,
                        sender_id: sender,
                        kind: if file.is_some() {
                            MessageKind::File
                        } else {
                            MessageKind::Text
                        },
                        text: text.as_ref().map(MessageText::as_str),
                        attachment,
                        client_id: client_id.as_ref().map(ClientId::as_str),
                    },
                    now,
                )?;
                Ok((
                    Sent {
                        message,
                        created: true,
                    },
                    chat.created_with,
                ))
            },
            move |(sent, created_with)| publish_sent(&outbox, sent, created_with.as_deref(), origin),
        )
        .await?;
    // A repeated client_id may name an earlier file message.
    state.files.sign_message(&mut sent.message);
    Ok(sent)
}

/// Stores a text message and, once committed, broadcasts it to the chat.
pub async fn send_text(state: &AppState, sender: i64, request: SendText, origin: Origin) -> Result<Sent> {
    state.limits.check_user(Limit::Send, sender)?;
    let outgoing = Outgoing {
        target: request.target,
        client_id: request.client_id,
        text: Some(request.text),
        file: None,
    };
    store_and_publish(state, sender, outgoing, origin).await
}
