//! One handler per client event. Each parses its payload, calls the same
//! domain operation as the REST route, and answers the ack; none of them
//! holds any logic of its own.

use serde::{Deserialize, Serialize};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Event, Extension, SocketRef, State};
use tracing::Instrument;

use super::connect::{chat_room, user_room};
use super::payload::{Nothing, Payload, answer};
use crate::auth::AuthUser;
use crate::blobs::Staging;
use crate::chats::{self, SendMessageBody, SendText};
use crate::credentials::Signable;
use crate::domain::{
    Chat, ChatTarget, ClientId, FileName, Message, MessageText, TargetFields, parse_id, required_id,
};
use crate::error::AppError;
use crate::groups::{self, CreateGroupBody};
use crate::messages;
use crate::signable_fields;
use crate::state::AppState;
use crate::store::{Expect, Precheck};
use crate::uploads::{self, FileUpload};

/// Runs one event's work and answers its ack with the outcome, its
/// attachment URLs minted on the way out. The work runs in a debug-level
/// span: off by default, since building a span per
/// event was a measurable share of the server's time at the default log
/// level; an internal error is logged here with who sent what instead.
async fn reply<A: Adapter, T: Serialize + Signable>(
    ack: AckSender<A>,
    event: &'static str,
    socket: &SocketRef<A>,
    state: &AppState,
    user_id: i64,
    outcome: impl Future<Output = Result<T, AppError>>,
) {
    let span = tracing::debug_span!("socket_event", event, sid = %socket.id, user_id);
    let outcome = outcome.instrument(span).await;
    if let Err(e) = &outcome
        && let Some(cause) = e.internal_cause()
    {
        tracing::error!(event, sid = %socket.id, user_id, cause, "internal error");
    }
    answer(ack, outcome.map(|value| state.files.signed(value, user_id)));
}

/// Puts every handler on a freshly admitted socket.
pub fn register<A: Adapter>(socket: &SocketRef<A>) {
    socket.on("send_message", send_message::<A>);
    socket.on("group_message", group_message::<A>);
    socket.on("create_group", create_group::<A>);
    socket.on("join_group", join_group::<A>);
    socket.on("leave_group", leave_group::<A>);
    socket.on("send_file", send_file::<A>);
    socket.on("typing", typing::<A>);
    socket.on("mark_read", mark_read::<A>);
    socket.on("edit_message", edit_message::<A>);
    socket.on("delete_message", delete_message::<A>);
    socket.on("add_reaction", add_reaction::<A>);
    socket.on("remove_reaction", remove_reaction::<A>);
    socket.on_fallback(unknown_event::<A>);
}

#[derive(Serialize)]
struct MessageAck {
    message: Message,
}
signable_fields!(MessageAck { message });

#[derive(Serialize)]
struct GroupAck {
    group: Chat,
}
signable_fields!(GroupAck { group });

async fn send_message<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<SendMessageBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let request = SendText::parse(body?)?;
        let sent = chats::send_text(&state, user.id, request, Some(socket.id)).await?;
        Ok(MessageAck {
            message: sent.message,
        })
    };
    reply(ack, "send_message", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct GroupMessageBody {
    group_id: Option<i64>,
    text: Option<String>,
    client_id: Option<String>,
    reply_to: Option<i64>,
}

async fn group_message<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<GroupMessageBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let body = body?;
        let group_id = body
            .group_id
            .ok_or_else(|| AppError::validation("group_id is required"))?;
        let request = SendText::parse(SendMessageBody {
            group_id: Some(group_id),
            text: body.text,
            client_id: body.client_id,
            reply_to: body.reply_to,
            ..SendMessageBody::default()
        })?;
        let sent = chats::send_text(&state, user.id, request, Some(socket.id)).await?;
        Ok(MessageAck {
            message: sent.message,
        })
    };
    reply(ack, "group_message", &socket, &state, user.id, outcome).await;
}

async fn create_group<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<CreateGroupBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        Ok(GroupAck {
            group: groups::create_group(&state, user.id, body?).await?,
        })
    };
    reply(ack, "create_group", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct SendFileBody {
    to: Option<i64>,
    chat_id: Option<i64>,
    group_id: Option<i64>,
    filename: Option<String>,
    /// The file, as a binary attachment of the packet.
    data: bytes::Bytes,
    text: Option<String>,
    client_id: Option<String>,
    reply_to: Option<i64>,
}

async fn send_file<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<SendFileBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let body = body?;
        let target = ChatTarget::parse(&TargetFields {
            to: body.to,
            chat_id: body.chat_id,
            group_id: body.group_id,
        })?;
        let filename = FileName::parse(body.filename.as_deref())?;
        let client_id = ClientId::parse(body.client_id)?;
        let caption = MessageText::parse_caption(body.text)?;
        let reply_to = body.reply_to.map(|id| parse_id(id, "reply_to")).transpose()?;
        if let Precheck::Earlier(earlier) =
            uploads::precheck(&state, user.id, target, client_id.as_ref()).await?
        {
            return Ok(MessageAck {
                message: earlier.message,
            });
        }
        let staged =
            Staging::from_bytes(&state.staging_dir, state.config.max_upload_bytes, &body.data).await?;
        let upload = FileUpload {
            target,
            filename,
            caption,
            client_id,
            reply_to,
            staged,
        };
        let sent = uploads::send_file(&state, user.id, upload, Some(socket.id)).await?;
        Ok(MessageAck {
            message: sent.message,
        })
    };
    reply(ack, "send_file", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct GroupRef {
    group_id: Option<i64>,
}

/// Idempotent: the socket is usually in the room already.
async fn join_group<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<GroupRef>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let group_id = required_id(body?.group_id, "group_id")?;
        let group = groups::get_group(&state, user.id, group_id).await?;
        socket.join(chat_room(group.id));
        Ok(GroupAck { group })
    };
    reply(ack, "join_group", &socket, &state, user.id, outcome).await;
}

/// Leaves a group (v2): the user's sockets are out of its room, on every
/// node, before the ack.
async fn leave_group<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<GroupRef>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let group_id = required_id(body?.group_id, "group_id")?;
        groups::leave(&state, user.id, group_id).await?;
        Ok(Nothing {})
    };
    reply(ack, "leave_group", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct TypingBody {
    chat_id: Option<i64>,
    typing: Option<bool>,
}

#[derive(Serialize)]
struct TypingEvent {
    chat_id: i64,
    user_id: i64,
    typing: bool,
}

/// Relayed to the chat's other members, never stored.
async fn typing<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<TypingBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let body = body?;
        let chat_id = required_id(body.chat_id, "chat_id")?;
        let typing = body
            .typing
            .ok_or_else(|| AppError::validation("typing must be true or false"))?;
        // The socket is in a chat's room exactly when its user is a member;
        // only a miss needs the database, for the precise error.
        let room = chat_room(chat_id);
        if !socket.rooms().iter().any(|r| *r == room) {
            chats::check_member(&state, user.id, chat_id, Expect::AnyChat).await?;
        }
        let event = TypingEvent {
            chat_id,
            user_id: user.id,
            typing,
        };
        socket
            .to(room)
            .except(user_room(user.id))
            .emit("typing", &event)
            .await
            .map_err(|e| AppError::internal(format_args!("typing broadcast: {e}")))?;
        Ok(Nothing {})
    };
    reply(ack, "typing", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct MarkReadBody {
    chat_id: Option<i64>,
    message_id: Option<i64>,
}

async fn mark_read<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<MarkReadBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let body = body?;
        let chat_id = required_id(body.chat_id, "chat_id")?;
        let message_id = required_id(body.message_id, "message_id")?;
        chats::mark_read(&state, user.id, chat_id, message_id).await
    };
    reply(ack, "mark_read", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct EditBody {
    message_id: Option<i64>,
    text: Option<String>,
}

async fn edit_message<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<EditBody>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let body = body?;
        let message_id = required_id(body.message_id, "message_id")?;
        let message = messages::edit(&state, user.id, message_id, Ok(body.text)).await?;
        Ok(MessageAck { message })
    };
    reply(ack, "edit_message", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct MessageRef {
    message_id: Option<i64>,
}

async fn delete_message<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<MessageRef>,
    ack: AckSender<A>,
) {
    let outcome = async {
        let message_id = required_id(body?.message_id, "message_id")?;
        let message = messages::delete(&state, user.id, message_id).await?;
        Ok(MessageAck { message })
    };
    reply(ack, "delete_message", &socket, &state, user.id, outcome).await;
}

#[derive(Deserialize)]
struct ReactionBody {
    message_id: Option<i64>,
    emoji: Option<String>,
}

async fn react<A: Adapter>(
    socket: SocketRef<A>,
    state: AppState,
    user: AuthUser,
    body: Result<ReactionBody, AppError>,
    ack: AckSender<A>,
    add: bool,
) {
    let outcome = async {
        let body = body?;
        let message_id = required_id(body.message_id, "message_id")?;
        // A missing emoji is refused after membership, like a bad one.
        let emoji = body.emoji.unwrap_or_default();
        let message = messages::react(&state, user.id, message_id, emoji, add).await?;
        Ok(MessageAck { message })
    };
    let event = if add { "add_reaction" } else { "remove_reaction" };
    reply(ack, event, &socket, &state, user.id, outcome).await;
}

async fn add_reaction<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<ReactionBody>,
    ack: AckSender<A>,
) {
    react(socket, state, user, body, ack, true).await;
}

async fn remove_reaction<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    Extension(user): Extension<AuthUser>,
    Payload(body): Payload<ReactionBody>,
    ack: AckSender<A>,
) {
    react(socket, state, user, body, ack, false).await;
}

/// An event this server does not know: `not_found`, if the client waits.
async fn unknown_event<A: Adapter>(Event(name): Event, ack: AckSender<A>) {
    answer::<A, Nothing>(ack, Err(AppError::NotFound(format!("unknown event {name:?}"))));
}
