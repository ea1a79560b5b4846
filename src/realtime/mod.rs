//! Real time: presence, and the outbox through which committed changes
//! reach connected clients in commit order.

mod outbox;
mod presence;

pub use outbox::{Event, Outbox};
pub use presence::Presence;
