//! Sending a file: one operation behind `POST /uploads` and the `send_file`
//! socket event. Both doors stage and verify the bytes first (size, type,
//! hash); this stores the blob, then writes the attachment row and the file
//! message in one transaction, then broadcasts `receive_file`.

use crate::app::AppState;
use crate::blobs::StagedFile;
use crate::chats::access::{check_target, resolve_target};
use crate::chats::{Origin, Sent, earlier_send, publish_sent};
use crate::domain::{ChatTarget, ClientId, FileName, MessageKind, MessageText, Timestamp};
use crate::error::{AppError, Result};
use crate::limits::Limit;
use crate::store::{self, NewAttachment, NewMessage};

/// A verified file and where it goes.
pub struct FileUpload {
    pub target: ChatTarget,
    pub filename: FileName,
    pub caption: Option<MessageText>,
    pub client_id: Option<ClientId>,
    pub staged: StagedFile,
}

/// The checks that need no bytes, made once per upload by each door before
/// `send_file` (before reading the file, when the door can): the upload
/// rate limit; a repeated `client_id` gets the earlier message back; a
/// target the sender may not write to is refused.
pub async fn precheck(
    state: &AppState,
    sender: i64,
    target: ChatTarget,
    client_id: Option<&ClientId>,
) -> Result<Option<Sent>> {
    state.limits.check_user(Limit::Upload, sender)?;
    let client_id = client_id.cloned();
    state
        .db
        .read(move |conn| {
            if let Some(earlier) = earlier_send(conn, sender, client_id.as_ref())? {
                return Ok(Some(Sent {
                    message: earlier,
                    created: false,
                }));
            }
            check_target(conn, sender, target)?;
            Ok(None)
        })
        .await
}

/// Stores a verified file and its message. The door has run [`precheck`];
/// the transaction checks the target and the client_id again, so a race
/// with another request cannot slip through.
pub async fn send_file(state: &AppState, sender: i64, upload: FileUpload, origin: Origin) -> Result<Sent> {
    let FileUpload {
        target,
        filename,
        caption,
        client_id,
        staged,
    } = upload;
    let (size, sha256, content_type) = (staged.size, staged.sha256.clone(), staged.content_type);
    // The blob goes in place before its row commits: a committed row always
    // has its bytes. A crash in between leaves an unreferenced blob, which
    // the next start removes.
    state
        .blobs
        .put(staged)
        .await
        .map_err(|e| AppError::internal(format_args!("storing a blob: {e}")))?;

    let outbox = state.outbox.clone();
    let (mut sent, _) = state
        .db
        .write_then(
            move |conn| {
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
                let attachment = store::insert_attachment(
                    conn,
                    &NewAttachment {
                        chat_id: chat.id,
                        uploader_id: sender,
                        filename: filename.as_str(),
                        content_type,
                        size: i64::try_from(size).map_err(AppError::internal)?,
                        sha256: &sha256,
                    },
                    now,
                )?;
                let message = store::insert_message(
                    conn,
                    &NewMessage {
                        chat_id: chat.id,
                        chat_kind: chat.kind,
                        sender_id: sender,
                        kind: MessageKind::File,
                        text: caption.as_ref().map(MessageText::as_str),
                        attachment: Some(attachment),
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
    state.files.sign_message(&mut sent.message);
    Ok(sent)
}
