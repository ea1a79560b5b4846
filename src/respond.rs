//! The REST door's way out: JSON answers whose attachment URLs are minted
//! as they leave, for the caller (`FileSigner::signed`), with their status. Every handler
//! that answers with data answers through [`Reply`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::credentials::Signable;
use crate::error::ApiJson;
use crate::state::AppState;

/// A signed JSON answer.
pub struct Reply<T>(StatusCode, T);

impl<T: Serialize + Signable> Reply<T> {
    /// 200 with `value`, for `viewer`.
    pub fn ok(state: &AppState, viewer: i64, value: T) -> Self {
        Self::with_status(StatusCode::OK, state, viewer, value)
    }

    /// 201 with `value`, for `viewer`.
    pub fn created(state: &AppState, viewer: i64, value: T) -> Self {
        Self::with_status(StatusCode::CREATED, state, viewer, value)
    }

    pub fn with_status(status: StatusCode, state: &AppState, viewer: i64, value: T) -> Self {
        Reply(status, state.files.signed(value, viewer))
    }
}

impl<T: Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        (self.0, ApiJson(self.1)).into_response()
    }
}
