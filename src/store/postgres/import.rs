//! Writing pages of another store's rows into PostgreSQL, for `chat-server
//! migrate` (see `store::transfer`). Each page goes into a temporary copy
//! of its table in one statement over arrays (`UNNEST`), then into the
//! table, skipping keys already there; the skipped rows that differ from
//! what is there are counted, all in one transaction under the ordering
//! lock.

use tokio_postgres::types::ToSql;

use super::PgStore;
use super::rows::{self, row};
use super::writer::ORDER_LOCK;
use crate::domain::words::IndexedText;
use crate::error::{AppError, Result};
use crate::store::transfer::{Page, Table, Tally};

fn column<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

impl PgStore {
    /// Copies `page` in; returns how many of its rows were already there with
    /// other contents.
    pub async fn import_page(&self, page: Page) -> Result<u64> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ORDER_LOCK])
            .await?;
        let (table, key) = match &page {
            Page::Users(_) => (Table::Users, "t.id = i.id"),
            Page::Chats(_) => (Table::Chats, "t.id = i.id"),
            Page::Members(_) => (Table::Members, "t.chat_id = i.chat_id AND t.user_id = i.user_id"),
            Page::Attachments(_) => (Table::Attachments, "t.id = i.id"),
            Page::Messages(_) => (Table::Messages, "t.id = i.id"),
            Page::Reactions(_) => (Table::Reactions, "t.id = i.id"),
            Page::Sessions(_) => (Table::Sessions, "t.id = i.id"),
        };
        let name = table.name();
        tx.batch_execute(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS import_{name} (LIKE {name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ))
        .await?;
        let (sql, params): (String, Vec<Box<dyn ToSql + Sync + Send>>) = match &page {
            Page::Users(r) => (
                "INSERT INTO import_users (id, username, display_name, display_lower, password_hash, last_seen_at, created_at,
                                           disabled_at)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[],
                                      $8::bigint[])".into(),
                vec![
                    Box::new(column(r, |u| u.id)),
                    Box::new(column(r, |u| u.username.clone())),
                    Box::new(column(r, |u| u.display_name.clone())),
                    Box::new(column(r, |u| u.display_lower.clone())),
                    Box::new(column(r, |u| u.password_hash.clone())),
                    Box::new(column(r, |u| u.last_seen_at)),
                    Box::new(column(r, |u| u.created_at)),
                    Box::new(column(r, |u| u.disabled_at)),
                ],
            ),
            Page::Chats(r) => (
                "INSERT INTO import_chats (id, kind, name, created_by, created_at, direct_lo, direct_hi, last_message_id,
                                    last_activity_at, last_seq)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                                      $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[])".into(),
                vec![
                    Box::new(column(r, |c| c.id)),
                    Box::new(column(r, |c| c.kind.clone())),
                    Box::new(column(r, |c| c.name.clone())),
                    Box::new(column(r, |c| c.created_by)),
                    Box::new(column(r, |c| c.created_at)),
                    Box::new(column(r, |c| c.direct_lo)),
                    Box::new(column(r, |c| c.direct_hi)),
                    Box::new(column(r, |c| c.last_message_id)),
                    Box::new(column(r, |c| c.last_activity_at)),
                    Box::new(column(r, |c| c.last_seq)),
                ],
            ),
            Page::Members(r) => (
                "INSERT INTO import_chat_members (chat_id, user_id, role, joined_at, last_read_message_id, last_read_seq,
                                           sent_since_read, joined_seq)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                                      $7::bigint[], $8::bigint[])".into(),
                vec![
                    Box::new(column(r, |m| m.chat_id)),
                    Box::new(column(r, |m| m.user_id)),
                    Box::new(column(r, |m| m.role.clone())),
                    Box::new(column(r, |m| m.joined_at)),
                    Box::new(column(r, |m| m.last_read_message_id)),
                    Box::new(column(r, |m| m.last_read_seq)),
                    Box::new(column(r, |m| m.sent_since_read)),
                    Box::new(column(r, |m| m.joined_seq)),
                ],
            ),
            Page::Attachments(r) => (
                "INSERT INTO import_attachments (id, chat_id, uploader_id, filename, content_type, size, sha256, created_at)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
                                      $7::text[], $8::bigint[])".into(),
                vec![
                    Box::new(column(r, |a| a.id)),
                    Box::new(column(r, |a| a.chat_id)),
                    Box::new(column(r, |a| a.uploader_id)),
                    Box::new(column(r, |a| a.filename.clone())),
                    Box::new(column(r, |a| a.content_type.clone())),
                    Box::new(column(r, |a| a.size)),
                    Box::new(column(r, |a| a.sha256.clone())),
                    Box::new(column(r, |a| a.created_at)),
                ],
            ),
            Page::Messages(r) => (
                "INSERT INTO import_messages (id, chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq,
                                              reply_to_id, edited_at, deleted_at, reaction_count, search, change_seq)
                 SELECT id, chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq,
                        reply_to_id, edited_at, deleted_at, reaction_count, search::tsvector, change_seq
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[],
                             $7::text[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[],
                             $13::bigint[], $14::text[], $15::bigint[])
                      AS u(id, chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq,
                           reply_to_id, edited_at, deleted_at, reaction_count, search, change_seq)".into(),
                vec![
                    Box::new(column(r, |m| m.id)),
                    Box::new(column(r, |m| m.chat_id)),
                    Box::new(column(r, |m| m.sender_id)),
                    Box::new(column(r, |m| m.kind.clone())),
                    Box::new(column(r, |m| m.text.clone())),
                    Box::new(column(r, |m| m.attachment_id)),
                    Box::new(column(r, |m| m.client_id.clone())),
                    Box::new(column(r, |m| m.created_at)),
                    Box::new(column(r, |m| m.seq)),
                    Box::new(column(r, |m| m.reply_to_id)),
                    Box::new(column(r, |m| m.edited_at)),
                    Box::new(column(r, |m| m.deleted_at)),
                    Box::new(column(r, |m| m.reaction_count)),
                    Box::new(column(r, |m| {
                        // The same vector the server writes with a send.
                        m.deleted_at.is_none().then(|| {
                            IndexedText::of(m.text.as_deref(), m.filename.as_deref()).tsvector()
                        })
                        .flatten()
                    })),
                    Box::new(column(r, |m| m.change_seq)),
                ],
            ),
            Page::Reactions(r) => (
                "INSERT INTO import_reactions (id, message_id, user_id, emoji, created_at)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[])".into(),
                vec![
                    Box::new(column(r, |x| x.id)),
                    Box::new(column(r, |x| x.message_id)),
                    Box::new(column(r, |x| x.user_id)),
                    Box::new(column(r, |x| x.emoji.clone())),
                    Box::new(column(r, |x| x.created_at)),
                ],
            ),
            Page::Sessions(r) => (
                "INSERT INTO import_sessions (id, user_id, device_name, user_agent, ip, created_at, last_used_at,
                                              refresh_hash, refresh_expires_at, revoked_at)
                 SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[],
                                      $7::bigint[], $8::text[], $9::bigint[], $10::bigint[])".into(),
                vec![
                    Box::new(column(r, |x| x.id)),
                    Box::new(column(r, |x| x.user_id)),
                    Box::new(column(r, |x| x.device_name.clone())),
                    Box::new(column(r, |x| x.user_agent.clone())),
                    Box::new(column(r, |x| x.ip.clone())),
                    Box::new(column(r, |x| x.created_at)),
                    Box::new(column(r, |x| x.last_used_at)),
                    Box::new(column(r, |x| x.refresh_hash.clone())),
                    Box::new(column(r, |x| x.refresh_expires_at)),
                    Box::new(column(r, |x| x.revoked_at)),
                ],
            ),
        };
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
        tx.execute(&sql, &params).await?;
        tx.execute(
            &format!("INSERT INTO {name} SELECT * FROM import_{name} ON CONFLICT DO NOTHING"),
            &[],
        )
        .await?;
        let differing = tx
            .query_one(
                &format!(
                    "SELECT COUNT(*) FROM import_{name} i JOIN {name} t ON {key}
                     WHERE ROW(i.*) IS DISTINCT FROM ROW(t.*)"
                ),
                &[],
            )
            .await?;
        let differing: i64 = rows::get(&differing, 0)?;
        tx.commit().await?;
        Ok(u64::try_from(differing).unwrap_or(0))
    }

    pub async fn tally(&self, table: Table) -> Result<Tally> {
        let c = self.client().await?;
        let key = if table == Table::Members { "chat_id" } else { "id" };
        let sql = format!(
            "SELECT COUNT(*), COALESCE(SUM({key}), 0)::bigint FROM {}",
            table.name()
        );
        let found = row(&c, &sql, &[])
            .await?
            .ok_or_else(|| AppError::internal("COUNT gave no row"))?;
        Ok(Tally {
            rows: rows::get(&found, 0)?,
            key_sum: rows::get(&found, 1)?,
        })
    }

    /// Makes `seq` continue after the source's newest event, none of which
    /// is copied: a client that asks for events from before the move hears
    /// `cursor_expired` (or `sync_required`) and reloads.
    pub async fn continue_events(&self, after: i64) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "SELECT setval('event_seq', greatest($1, (SELECT COALESCE(max(seq), 0) FROM events), 1))",
            &[&after],
        )
        .await?;
        c.execute(
            "UPDATE event_log SET pruned_through = greatest(pruned_through, $1)",
            &[&after],
        )
        .await?;
        Ok(())
    }

    /// Makes each identity continue after the highest id copied in.
    pub async fn continue_identities(&self) -> Result<()> {
        let c = self.client().await?;
        for table in [
            "users",
            "chats",
            "attachments",
            "messages",
            "reactions",
            "sessions",
        ] {
            c.execute(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
                ),
                &[],
            )
            .await?;
        }
        Ok(())
    }
}
