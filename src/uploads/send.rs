//! Sending a file: one operation behind `POST /uploads` and the `send_file`
//! socket event. Both doors stage and verify the bytes first (size, type,
//! hash); this stores the blob, then writes the attachment row and the file
//! message in one transaction, then broadcasts `receive_file`.

use crate::app::AppState;
use crate::blobs::StagedFile;
use crate::chats::access::check_target;
use crate::chats::{Origin, Outgoing, Sent, StoredFile, earlier_send, store_and_publish};
use crate::domain::{ChatTarget, ClientId, FileName, MessageText};
use crate::error::{AppError, Result};
use crate::limits::Limit;

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
    let file = StoredFile {
        filename,
        content_type: staged.content_type,
        size: i64::try_from(staged.size).map_err(AppError::internal)?,
        sha256: staged.sha256.clone(),
    };
    // The blob goes in place before its row commits: a committed row always
    // has its bytes. A crash in between leaves an unreferenced blob, which
    // the next start removes.
    state
        .blobs
        .put(staged)
        .await
        .map_err(|e| AppError::internal(format_args!("storing a blob: {e}")))?;
    let outgoing = Outgoing {
        target,
        client_id,
        text: caption,
        file: Some(file),
    };
    store_and_publish(state, sender, outgoing, origin).await
}
