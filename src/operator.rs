//! The operator's account commands, `chat-server users add | reset-password
//! | disable | enable | list`: whole operations of the store, run by
//! another process beside a running server (or none). Passwords come from
//! standard input, never from the command line (where `ps` and shell
//! history would keep them). Sessions revoked here reach running servers
//! through the store's revocation log, which they read every 0.25 s, and
//! at once through Redis when `--redis-url` is given; the command waits
//! out one such read before it returns, so that when it has returned, the
//! sessions are refused everywhere.

use std::io::BufRead;
use std::sync::Arc;

use crate::config::{
    ARGON2_MEMORY_KIB, ARGON2_PARALLELISM, ARGON2_TIME_COST, Database, UsersAction, UsersArgs,
};
use crate::credentials::PasswordHasher;
use crate::domain::{DisplayName, Password, Username};
use crate::store::{NewUser, Store};

/// An error for the operator: what went wrong, in words.
type Outcome = std::result::Result<(), String>;

pub async fn run(args: UsersArgs) -> Outcome {
    let store = open(&args).await?;
    let outcome = act(&args, store.as_ref()).await;
    if let Err(e) = store.close().await {
        tracing::warn!(error = %e, "closing the store");
    }
    outcome
}

async fn open(args: &UsersArgs) -> std::result::Result<Arc<dyn Store>, String> {
    match crate::config::database(args.database_url.as_deref())? {
        Database::Sqlite => {
            let path = crate::config::db_path(args.database_url.as_deref(), &args.data_dir);
            if !path.exists() {
                return Err(format!(
                    "no database at {} (start the server once, or give --data-dir / --database-url)",
                    path.display()
                ));
            }
            let options = crate::store::sqlite::SqliteOptions::new(crate::config::SyncMode::Normal);
            let store = crate::store::sqlite::SqliteStore::open(&path, options).map_err(|e| e.to_string())?;
            Ok(Arc::new(store))
        }
        Database::Postgres(url) => {
            let store = crate::store::postgres::PgStore::open(&url)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Arc::new(store))
        }
    }
}

fn hasher() -> std::result::Result<PasswordHasher, String> {
    PasswordHasher::new(ARGON2_MEMORY_KIB, ARGON2_TIME_COST, ARGON2_PARALLELISM, 1).map_err(|e| e.to_string())
}

/// One line of standard input, without its line ending.
fn read_password() -> std::result::Result<Password, String> {
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password (8-128 characters, shown as typed): ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    Password::parse(line.to_string()).map_err(|e| e.to_string())
}

async fn act(args: &UsersArgs, store: &dyn Store) -> Outcome {
    match &args.action {
        UsersAction::Add { name, display_name } => {
            let username = Username::parse(name.clone()).map_err(|e| e.to_string())?;
            let display_name =
                DisplayName::parse(display_name.clone(), &username).map_err(|e| e.to_string())?;
            if store
                .username_taken(username.as_str())
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("the username {name} is taken"));
            }
            let password = read_password()?;
            let password_hash = hasher()?.hash(password).await.map_err(|e| e.to_string())?;
            let user = store
                .create_user(NewUser {
                    username,
                    display_name,
                    password_hash,
                })
                .await
                .map_err(|e| e.to_string())?;
            println!("added user {} (id {})", user.username, user.id);
            Ok(())
        }
        UsersAction::ResetPassword { name } => {
            let password = read_password()?;
            let password_hash = hasher()?.hash(password).await.map_err(|e| e.to_string())?;
            let (user, revoked) = store
                .reset_password(name, password_hash)
                .await
                .map_err(|e| e.to_string())?;
            announce(args, &revoked).await;
            println!(
                "password of {} reset; {} session(s) signed out",
                user.username,
                revoked.len()
            );
            Ok(())
        }
        UsersAction::Disable { name } => {
            let (user, revoked) = store.set_disabled(name, true).await.map_err(|e| e.to_string())?;
            announce(args, &revoked).await;
            println!(
                "disabled {}; {} session(s) signed out",
                user.username,
                revoked.len()
            );
            Ok(())
        }
        UsersAction::Enable { name } => {
            let (user, _) = store.set_disabled(name, false).await.map_err(|e| e.to_string())?;
            println!("enabled {}", user.username);
            Ok(())
        }
        UsersAction::List => {
            let accounts = store.accounts().await.map_err(|e| e.to_string())?;
            println!(
                "{:>8}  {:<32}  {:<24}  {:<8}  sessions",
                "id", "username", "display name", "state"
            );
            for a in accounts {
                let state = if a.disabled { "disabled" } else { "active" };
                let display: String = a.user.display_name.chars().take(24).collect();
                println!(
                    "{:>8}  {:<32}  {:<24}  {:<8}  {}",
                    a.user.id, a.user.username, display, state, a.live_sessions
                );
            }
            Ok(())
        }
    }
}

/// Tells running servers of the revocations: through Redis when there is a
/// cluster, and in any case by waiting out one read of the store's log.
async fn announce(args: &UsersArgs, revoked: &[i64]) {
    if revoked.is_empty() {
        return;
    }
    if let Some(url) = args.redis_url.as_deref().filter(|u| !u.trim().is_empty())
        && let Err(e) = crate::cluster::revocations::announce_once(url, &args.redis_prefix, revoked).await
    {
        eprintln!(
            "warning: could not tell the cluster through Redis ({e}); the nodes read it from the store"
        );
    }
    tokio::time::sleep(crate::auth::REVOCATION_POLL * 2).await;
}
