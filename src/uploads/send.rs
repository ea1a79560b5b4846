//! Sending a file: one operation behind `POST /uploads` and the `send_file`
//! socket event. Both doors stage and verify the bytes first (size, type,
//! hash); this stores the blob, then the store writes the attachment row
//! and the file message in one transaction, then `receive_file` goes out.

use crate::blobs::StagedFile;
use crate::chats::store_and_publish;
use crate::domain::{ChatTarget, ClientId, FileName, MessageText};
use crate::error::{AppError, Result};
use crate::events::Origin;
use crate::limits::Limit;
use crate::state::AppState;
use crate::store::{NewSend, Precheck, Sent, StoredFile};

/// A verified file and where it goes.
pub struct FileUpload {
    pub target: ChatTarget,
    pub filename: FileName,
    pub caption: Option<MessageText>,
    pub client_id: Option<ClientId>,
    pub reply_to: Option<i64>,
    pub staged: StagedFile,
}

/// The checks that need no bytes, made once per upload by each door before
/// `send_file` (before reading the file, when the door can): the upload
/// rate limit; then a repeated `client_id` gets the earlier message back,
/// and a target the sender may not write to is refused.
pub async fn precheck(
    state: &AppState,
    sender: i64,
    target: ChatTarget,
    client_id: Option<&ClientId>,
) -> Result<Precheck> {
    state.limits.check_user(Limit::Upload, sender)?;
    state
        .store
        .precheck_send(sender, target, client_id.cloned())
        .await
}

/// Stores a verified file and its message. The door has run [`precheck`];
/// the store checks the target and the client_id again in its transaction,
/// so a race with another request cannot slip through.
pub async fn send_file(state: &AppState, sender: i64, upload: FileUpload, origin: Origin) -> Result<Sent> {
    let FileUpload {
        target,
        filename,
        caption,
        client_id,
        reply_to,
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
    // the next start removes. The key's lock, held until the row has
    // committed, keeps the removal of a deleted file's blob of the same
    // bytes from slipping in between.
    let _lock = state.store.lock_blob(&file.sha256).await?;
    state
        .blobs
        .put(staged)
        .await
        .map_err(|e| AppError::internal(format_args!("storing a blob: {e}")))?;
    let send = NewSend {
        sender,
        target,
        client_id,
        text: caption,
        file: Some(file),
        reply_to,
    };
    store_and_publish(state, send, origin).await
}
