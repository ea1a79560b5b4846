//! Groups: creating one, adding members, and (v2) renaming, leaving,
//! removing and roles (the store's `Groups` operations); a group is a chat
//! of kind `group`.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::access::member_chat;
use super::chats::{MEMBER_SELECT, chat_by_id, chat_view, insert_member, member_from_row, membership};
use super::log::{self, Audience};
use super::users::user_exists;
use crate::domain::{Chat, Member, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::events::ChatEvent;
use crate::store::model::{AddFacts, GroupPlan, Membership, Target, check_add_member, plan_group_change};
use crate::store::{
    AddMember, Expect, GroupAction, GroupChange, GroupChanged, GroupCreated, Groups, MemberAdded, NewGroup,
    Then,
};

/// Creates a group owned by `owner`; `members` must exist and must not
/// contain the owner. Its members hear of it from `seq` on. Returns its id.
fn insert_group(
    conn: &Connection,
    name: &str,
    owner: i64,
    members: &[i64],
    now: Timestamp,
    seq: i64,
) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO chats (kind, name, created_by, created_at, last_activity_at)
         VALUES ('group', ?1, ?2, ?3, ?3)",
    )?;
    stmt.execute(params![name, owner, now.0])?;
    let id = conn.last_insert_rowid();
    insert_member(conn, id, owner, Role::Owner, now, seq)?;
    for &user in members {
        insert_member(conn, id, user, Role::Member, now, seq)?;
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

/// Who owns the group once its owner has gone: the admin who joined first,
/// else the member who joined first (the lower id on a tie).
fn successor(conn: &Connection, chat_id: i64) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM chat_members WHERE chat_id = ?1
         ORDER BY role <> 'admin', joined_at, user_id LIMIT 1",
    )?;
    Ok(stmt.query_row([chat_id], |r| r.get(0)).optional()?)
}

fn set_role(conn: &Connection, chat_id: i64, user_id: i64, role: Role) -> Result<crate::events::Logged> {
    conn.prepare_cached("UPDATE chat_members SET role = ?3 WHERE chat_id = ?1 AND user_id = ?2")?
        .execute(params![chat_id, user_id, role.as_str()])?;
    let changed = ChatEvent::MemberRoleChanged {
        group_id: chat_id,
        user_id,
        role,
    };
    log::record(conn, &changed, Audience::Chat(chat_id))
}

/// The group as a member sees it.
fn group_for(conn: &Connection, group_id: i64, user_id: i64) -> Result<Chat> {
    let row = chat_by_id(conn, group_id)?.ok_or(AppError::GroupNotFound(group_id))?;
    let marker = membership(conn, group_id, user_id)?.ok_or(AppError::NotAMember(group_id))?;
    chat_view(conn, &row, &marker, Some(user_id))
}

fn change_group(conn: &Connection, change: GroupChange) -> Result<GroupChanged> {
    let GroupChange {
        actor,
        group_id,
        action,
    } = change;
    let (row, actor_membership) = member_chat(conn, actor, group_id, Expect::Group)?;
    let target = match &action {
        GroupAction::Remove { user_id } | GroupAction::SetRole { user_id, .. } => Some(Target {
            exists: user_exists(conn, *user_id)?,
            role: membership(conn, group_id, *user_id)?.map(|m| m.role),
        }),
        GroupAction::Rename(_) | GroupAction::Leave => None,
    };
    let plan = plan_group_change(actor, &actor_membership, row.name.as_deref(), action, target)?;
    let mut events = Vec::new();
    let mut gone = Vec::new();
    match plan {
        GroupPlan::Nothing => {}
        GroupPlan::Rename(name) => {
            conn.prepare_cached("UPDATE chats SET name = ?2 WHERE id = ?1")?
                .execute(params![group_id, name])?;
            let row = chat_by_id(conn, group_id)?.ok_or(AppError::GroupNotFound(group_id))?;
            let group = chat_view(conn, &row, &actor_membership, None)?;
            events.push(log::record(
                conn,
                &ChatEvent::GroupUpdated(group),
                Audience::Chat(group_id),
            )?);
        }
        GroupPlan::Drop {
            user_id,
            reason,
            role,
        } => {
            // Told to the members before, the one who goes included.
            let removed = ChatEvent::MemberRemoved {
                group_id,
                user_id,
                by: actor,
                reason,
            };
            let logged = log::record(conn, &removed, Audience::Chat(group_id))?;
            log::end_membership(conn, group_id, user_id, logged.seq)?;
            events.push(logged);
            gone.push(user_id);
            if role == Role::Owner
                && let Some(next) = successor(conn, group_id)?
            {
                events.push(set_role(conn, group_id, next, Role::Owner)?);
            }
        }
        GroupPlan::Roles(roles) => {
            for (user_id, role) in roles {
                events.push(set_role(conn, group_id, user_id, role)?);
            }
        }
    }
    let group = if gone.contains(&actor) {
        None
    } else {
        Some(group_for(conn, group_id, actor)?)
    };
    Ok(GroupChanged { group, gone, events })
}

#[async_trait]
impl Groups for SqliteStore {
    async fn create_group(&self, new: NewGroup, then: Then<GroupCreated>) -> Result<GroupCreated> {
        self.db
            .write_then(
                move |conn| {
                    for &id in &new.members {
                        if !user_exists(conn, id)? {
                            return Err(AppError::UserNotFound(id));
                        }
                    }
                    let now = Timestamp::now();
                    let seq = log::next_seq(conn)?;
                    let group_id = insert_group(conn, new.name.as_str(), new.owner, &new.members, now, seq)?;
                    let row = chat_by_id(conn, group_id)?
                        .ok_or_else(|| AppError::internal("a new group vanished"))?;
                    // A new group has no messages: this view is every member's.
                    let group = chat_view(conn, &row, &Membership::fresh(Role::Owner), None)?;
                    let created = ChatEvent::GroupCreated(group.clone());
                    let logged = log::record_at(conn, seq, &created, Audience::Chat(group_id))?;
                    Ok(GroupCreated {
                        group,
                        events: vec![logged],
                    })
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
                    // `member_added` to the members before; the new member
                    // hears of the group from `added_to_group` on.
                    let seq = log::next_seq(conn)?;
                    let before = log::member_ids(conn, group_id)?;
                    insert_member(conn, group_id, user_id, Role::Member, Timestamp::now(), seq + 1)?;
                    let member = member(conn, group_id, user_id)?
                        .ok_or_else(|| AppError::internal("a new member vanished"))?;
                    let added = ChatEvent::MemberAdded {
                        group_id,
                        member: member.clone(),
                    };
                    let told = crate::events::Logged::new(seq, &added, Some(group_id), before);
                    log::insert_logged(conn, &told)?;
                    let group = chat_view(conn, &row, &Membership::fresh(Role::Member), None)?;
                    let welcome = ChatEvent::AddedToGroup(group);
                    let welcomed = log::record_at(conn, seq + 1, &welcome, Audience::Users(&[user_id]))?;
                    Ok(MemberAdded {
                        for_actor: chat_view(conn, &row, &actor_membership, Some(actor))?,
                        member,
                        events: vec![told, welcomed],
                    })
                },
                then,
            )
            .await
    }

    async fn change_group(&self, change: GroupChange, then: Then<GroupChanged>) -> Result<GroupChanged> {
        self.db
            .write_then(move |conn| change_group(conn, change), then)
            .await
    }
}
