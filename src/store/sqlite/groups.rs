//! Groups: creating one and adding members (the store's `Groups`
//! operations); a group is a chat of kind `group`.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::access::member_chat;
use super::chats::{MEMBER_SELECT, chat_by_id, chat_view, insert_member, member_from_row, membership};
use super::users::user_exists;
use crate::domain::{Chat, Member, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::store::model::{AddFacts, Membership, check_add_member};
use crate::store::{AddMember, Expect, Groups, MemberAdded, NewGroup, Then};

/// Creates a group owned by `owner`; `members` must exist and must not
/// contain the owner. Returns its id.
fn insert_group(conn: &Connection, name: &str, owner: i64, members: &[i64], now: Timestamp) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO chats (kind, name, created_by, created_at, last_activity_at)
         VALUES ('group', ?1, ?2, ?3, ?3)",
    )?;
    stmt.execute(params![name, owner, now.0])?;
    let id = conn.last_insert_rowid();
    insert_member(conn, id, owner, Role::Owner, now)?;
    for &user in members {
        insert_member(conn, id, user, Role::Member, now)?;
    }
    Ok(id)
}

fn member(conn: &Connection, chat_id: i64, user_id: i64) -> Result<Option<Member>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{MEMBER_SELECT} WHERE cm.chat_id = ?1 AND cm.user_id = ?2"
    ))?;
    Ok(stmt
        .query_row(params![chat_id, user_id], member_from_row)
        .optional()?)
}

fn member_count(conn: &Connection, chat_id: i64) -> Result<i64> {
    let mut stmt = conn.prepare_cached("SELECT COUNT(*) FROM chat_members WHERE chat_id = ?1")?;
    Ok(stmt.query_row([chat_id], |r| r.get(0))?)
}

#[async_trait]
impl Groups for SqliteStore {
    async fn create_group(&self, new: NewGroup, then: Then<Chat>) -> Result<Chat> {
        self.db
            .write_then(
                move |conn| {
                    for &id in &new.members {
                        if !user_exists(conn, id)? {
                            return Err(AppError::UserNotFound(id));
                        }
                    }
                    let now = Timestamp::now();
                    let group_id = insert_group(conn, new.name.as_str(), new.owner, &new.members, now)?;
                    let row = chat_by_id(conn, group_id)?
                        .ok_or_else(|| AppError::internal("a new group vanished"))?;
                    // A new group has no messages: this view is every member's.
                    chat_view(conn, &row, &Membership::fresh(Role::Owner), None)
                },
                then,
            )
            .await
    }

    async fn add_member(&self, add: AddMember, then: Then<MemberAdded>) -> Result<MemberAdded> {
        let AddMember {
            actor,
            group_id,
            user_id,
            max_members,
        } = add;
        self.db
            .write_then(
                move |conn| {
                    let (row, actor_membership) = member_chat(conn, actor, group_id, Expect::Group)?;
                    let facts = AddFacts {
                        user_exists: user_exists(conn, user_id)?,
                        already_member: membership(conn, group_id, user_id)?.is_some(),
                        members: member_count(conn, group_id)?,
                    };
                    check_add_member(&actor_membership, group_id, user_id, max_members, facts)?;
                    insert_member(conn, group_id, user_id, Role::Member, Timestamp::now())?;
                    let member = member(conn, group_id, user_id)?
                        .ok_or_else(|| AppError::internal("a new member vanished"))?;
                    Ok(MemberAdded {
                        for_actor: chat_view(conn, &row, &actor_membership, Some(actor))?,
                        for_new_member: chat_view(conn, &row, &Membership::fresh(Role::Member), None)?,
                        member,
                    })
                },
                then,
            )
            .await
    }
}
