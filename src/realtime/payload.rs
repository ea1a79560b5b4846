//! Socket event payloads in and acks out.
//!
//! `Payload<T>` is the extractor every handler uses: it never fails, so a
//! handler always runs and can answer a payload that does not parse with a
//! `validation_failed` ack instead of silence. A payload sent as a JSON
//! string (as some tools do) is accepted too.

use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, TryData};
use socketioxide::handler::{FromMessageParts, Value};
use socketioxide::socket::Socket;

use crate::error::{AppError, ErrorBody, Result};

/// The event's first argument as `T`, or the reason it is not one.
pub struct Payload<T>(pub Result<T>);

impl<T: DeserializeOwned, A: Adapter> FromMessageParts<A> for Payload<T> {
    type Error = Infallible;

    fn from_message_parts(
        socket: &Arc<Socket<A>>,
        value: &mut Value,
        ack: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let Ok(TryData(direct)) = TryData::<T>::from_message_parts(socket, value, ack);
        let error = match direct {
            Ok(payload) => return Ok(Payload(Ok(payload))),
            Err(e) => e,
        };
        // A JSON document sent as a string.
        if let Ok(TryData(Ok(text))) = TryData::<String>::from_message_parts(socket, value, ack) {
            return Ok(Payload(
                serde_json::from_str(&text).map_err(|e| AppError::validation(format!("payload: {e}"))),
            ));
        }
        Ok(Payload(Err(AppError::validation(format!("payload: {error}")))))
    }
}

/// `{ ok: true, ...fields }`.
#[derive(Serialize)]
struct AckOk<T: Serialize> {
    ok: bool,
    #[serde(flatten)]
    fields: T,
}

/// `{ ok: false, error: { code, message } }`.
#[derive(Serialize)]
struct AckErr {
    ok: bool,
    error: ErrorBody,
}

/// Answers an event's ack (if the client asked for one) with the outcome.
pub fn answer<A: Adapter, T: Serialize>(ack: AckSender<A>, outcome: Result<T>) {
    let sent = match outcome {
        Ok(fields) => ack.send(&AckOk { ok: true, fields }),
        Err(e) => ack.send(&AckErr {
            ok: false,
            error: e.body(),
        }),
    };
    if let Err(e) = sent {
        tracing::debug!(error = %e, "could not send an ack (socket gone or full)");
    }
}

/// An ack with nothing but `ok: true`.
#[derive(Serialize)]
pub struct Nothing {}
crate::signable_fields!(Nothing {});
