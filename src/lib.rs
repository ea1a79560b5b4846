//! chat-server: a self-hosted chat backend in one binary.
//!
//! Map of the crate, from the bottom up (a module imports only modules
//! above it in this list):
//! - `config`: the command line; every path derives from `--data-dir`.
//! - `error`: `AppError`, the contract's error body, and extractors that
//!   produce it.
//! - `domain`: validated values and the API's objects.
//! - `store`: the interface of whole operations on the data, and its
//!   SQLite implementation.
//! - `credentials`: tokens, password hashes, signed file URLs.
//! - `events`: what committed writes tell connected clients, and the
//!   outbox they wait in.
//! - `presence`, `limits`, `blobs`: who is online; rate limits; where file
//!   bytes live.
//! - `state`: what handlers share; `respond`: the REST door's way out.
//! - `protection`, `telemetry`, `allocator`: headers, timeouts, caps and
//!   the lingering close; request ids and metrics; memory given back.
//! - `auth`, `users`, `chats`, `messages`, `search`, `groups`, `uploads`:
//!   one module per domain,
//!   each with its operations and its routes.
//! - `realtime`: Socket.IO: connect middleware, event handlers, and the
//!   relay of committed events.
//! - `openapi`, `demo`: the OpenAPI document and `/docs`; the browser demo.
//! - `operator`: the `chat-server users` commands, beside the server.
//! - `app`: the router.
//!
//! [`serve`] runs the whole server on a listener until a shutdown future
//! completes; tests call it on port 0.

pub mod allocator;
pub mod app;
pub mod auth;
pub mod blobs;
pub mod catchup;
pub mod chats;
pub mod cluster;
pub mod config;
pub mod credentials;
pub mod demo;
pub mod domain;
pub mod error;
pub mod events;
pub mod groups;
pub mod limits;
pub mod messages;
pub mod openapi;
pub mod operator;
pub mod presence;
pub mod protection;
pub mod realtime;
pub mod respond;
pub mod search;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod uploads;
pub mod users;

use std::future::{Future, IntoFuture};
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::blobs::{BlobStore, LocalDisk, S3};
use crate::cluster::{Cluster, RedisLimits, RedisPresence, RedisRevocations};
use crate::config::{BlobStoreKind, Config};
use crate::credentials::{FileSigner, NoBus, PasswordHasher, RevocationBus, SessionCache, Tokens};
use crate::events::Outbox;
use crate::limits::RateLimits;
use crate::presence::{LocalPresence, PresenceStore};
use crate::protection::{LimitedListener, Linger, PeerAddr};
use crate::state::{AppState, Services};
use crate::store::Store;

/// The token secret: the flag's; else, on a store that keeps one for every
/// node, that one (seeded from this data dir's secret file, so that tokens
/// survive a move from SQLite); else the data dir's file.
async fn token_secret(config: &Config, store: &dyn Store) -> std::io::Result<Vec<u8>> {
    if let Some(flag) = config.jwt_secret.as_deref() {
        return credentials::flag_secret(flag);
    }
    let candidate = match credentials::secret_file(&config.secret_path())? {
        Some(kept) => kept,
        None => credentials::new_secret()?,
    };
    match store
        .shared_secret(&candidate)
        .await
        .map_err(std::io::Error::other)?
    {
        Some(shared) => Ok(shared),
        None => credentials::load_or_create_secret(None, &config.secret_path()),
    }
}

/// What a closing connection may still read past the largest body a route
/// accepts, and for how long (see `protection::listener`).
const LINGER_MARGIN: u64 = 2 * 1024 * 1024;
const LINGER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Opens the data dir and database, then serves on `listener` until
/// `shutdown` completes; in-flight requests finish, the WAL is checkpointed.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_routes(config, listener, shutdown, axum::Router::new()).await
}

/// [`serve`] with `extra` routes merged in under the same layers (error
/// bodies, panic catching, tracing); tests use it to add a route that
/// panics.
pub async fn serve_with_routes(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    extra: axum::Router<AppState>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(&config.data_dir)?;
    let store = store::open(&config).await?;
    let cluster = Cluster::connect(&config).await?;
    if cluster.is_some() && config.database() == Ok(config::Database::Sqlite) {
        return Err(std::io::Error::other(
            "--redis-url needs --database-url postgres://…: the nodes of a cluster share one database",
        ));
    }
    let node = match &cluster {
        Some(cluster) => cluster.node.clone(),
        None => {
            String::from_utf8(credentials::new_secret()?[..16].to_vec()).map_err(std::io::Error::other)?
        }
    };
    store.claim(&node, cluster.is_some()).await?;
    let secret = token_secret(&config, store.as_ref()).await?;
    let max_hashes = config
        .max_concurrent_hashes
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let passwords = PasswordHasher::new(
        config.argon2_memory_kib,
        config.argon2_time_cost,
        config.argon2_parallelism,
        max_hashes,
    )?;
    // A cluster's nodes share the store: leftovers young enough to be
    // another node's upload in flight stay.
    let grace = if cluster.is_some() {
        blobs::SHARED_SWEEP_AFTER
    } else {
        std::time::Duration::ZERO
    };
    let staging_dir = config.uploads_dir().join("tmp");
    blobs::prepare_staging(&staging_dir, grace)?;
    let blobs: Arc<dyn BlobStore> = match &config.blob_store {
        BlobStoreKind::Local => {
            if cluster.is_some() {
                tracing::warn!(
                    "--blob-store local with several nodes: every node must see the same uploads folder; use s3://… otherwise"
                );
            }
            Arc::new(LocalDisk::open(config.uploads_dir(), grace)?)
        }
        BlobStoreKind::S3(url) => Arc::new(
            S3::open(
                url,
                config.s3_endpoint.as_deref(),
                config.s3_region.as_deref(),
                grace,
            )
            .map_err(std::io::Error::other)?,
        ),
    };
    let referenced = store.referenced_blobs().await.map_err(std::io::Error::other)?;
    // (Also the first request to an object store: a wrong bucket, endpoint
    // or credential stops the start here, with the store's own words.)
    let removed = blobs
        .sweep(referenced)
        .await
        .map_err(|e| std::io::Error::other(format!("blob store: {e}")))?;
    if removed > 0 {
        tracing::info!(removed, "removed stored files that no attachment refers to");
    }
    let (outbox, events) = Outbox::new();
    let (presence, limits): (Arc<dyn PresenceStore>, RateLimits) = match &cluster {
        Some(c) => (
            Arc::new(RedisPresence::new(
                c.conn.clone(),
                &c.prefix,
                &c.node,
                c.heartbeat,
            )),
            RateLimits::new(
                &config,
                Arc::new(RedisLimits::new(c.conn.clone(), &c.prefix, &c.node, &config)),
            ),
        ),
        None => (
            Arc::new(LocalPresence::default()),
            RateLimits::from_config(&config),
        ),
    };
    let revocations: Arc<dyn RevocationBus> = match &cluster {
        Some(c) => Arc::new(RedisRevocations::new(c.conn.clone(), &c.prefix, &c.node)),
        None => Arc::new(NoBus),
    };
    let limits = Arc::new(limits);
    limits.start_upkeep();
    let state = AppState::new(Services {
        tokens: Arc::new(Tokens::new(&secret, config.token_ttl)),
        files: Arc::new(FileSigner::new(&secret, config.file_url_ttl)),
        staging_dir,
        blobs,
        config: Arc::new(config),
        store: Arc::clone(&store),
        passwords,
        presence,
        outbox,
        limits: limits.clone(),
        sessions: SessionCache::default(),
        revocations,
    });
    let watching = auth::watch_revocations(state.clone()).await;
    let pruning = catchup::start_pruning(state.clone());
    telemetry::init_metrics();
    let trimming = allocator::start_trimming();
    let (app, close_sockets) = realtime::attach(
        app::router(state.clone(), extra),
        state.clone(),
        events,
        cluster.as_ref(),
    )
    .await?;
    let mut app = app.layer(axum::middleware::from_fn(realtime::own_request_parts));
    if let Some(cors) = protection::cors(&state.config.cors_origins) {
        app = app.layer(cors);
    }
    let app = app.layer(axum::middleware::from_fn(protection::close_if_body_unread));
    tracing::info!(addr = %listener.local_addr()?, "chat-server listening");
    // Sockets hold their connections open: close them when the signal
    // comes, so the graceful shutdown can finish.
    let (signalled, on_signal) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, closing sockets");
        let _ = signalled.send(());
        close_sockets().await;
    };
    let linger = Linger {
        max_bytes: state
            .config
            .max_upload_bytes
            .max(state.config.max_json_bytes as u64)
            .saturating_add(LINGER_MARGIN),
        timeout: LINGER_TIMEOUT,
    };
    let listener = LimitedListener::new(listener, state.config.max_connections, linger);
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<PeerAddr>())
        .with_graceful_shutdown(shutdown)
        .into_future();
    // Requests in flight get `shutdown_timeout` to finish; then we go anyway.
    let grace = state.config.shutdown_timeout;
    let deadline = async move {
        if on_signal.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served?,
        () = deadline => tracing::warn!(?grace, "shutdown grace period over; dropping what is left"),
    }
    // Writes already queued are still committed: closing waits its turn
    // behind them (SQLite checkpoints the WAL).
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "closing the store at shutdown failed");
    }
    trimming.abort();
    watching.abort();
    pruning.abort();
    tracing::info!("chat-server stopped");
    Ok(())
}
