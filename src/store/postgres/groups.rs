//! Groups on PostgreSQL: creating one, adding members, and (v2) renaming,
//! leaving, removing and roles (the store's `Groups` operations), each a
//! script of the writer with its events logged in the same transaction.

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::PgStore;
use super::access::{chat_by_id, member_chat, membership};
use super::chats::{chat_view, insert_member};
use super::log::{self, Audience};
use super::rows::{self, MEMBER_SELECT, execute, row};
use super::users::user_exists;
use super::writer::Work;
use crate::domain::{Chat, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::events::{ChatEvent, Logged};
use crate::store::model::{AddFacts, GroupPlan, Membership, Target, check_add_member, plan_group_change};
use crate::store::{
    AddMember, Expect, GroupAction, GroupChange, GroupChanged, GroupCreated, Groups, MemberAdded, NewGroup,
    Then,
};

/// Who owns the group once its owner has gone: the admin who joined first,
/// else the member who joined first (the lower id on a tie).
async fn successor(tx: &Transaction<'_>, chat_id: i64) -> Result<Option<i64>> {
    row(
        tx,
        "SELECT user_id FROM chat_members WHERE chat_id = $1
         ORDER BY role <> 'admin', joined_at, user_id LIMIT 1",
        &[&chat_id],
    )
    .await?
    .map(|r| rows::get(&r, 0))
    .transpose()
}

async fn set_role(tx: &Transaction<'_>, chat_id: i64, user_id: i64, role: Role) -> Result<Logged> {
    execute(
        tx,
        "UPDATE chat_members SET role = $3 WHERE chat_id = $1 AND user_id = $2",
        &[&chat_id, &user_id, &role.as_str()],
    )
    .await?;
    let changed = ChatEvent::MemberRoleChanged {
        group_id: chat_id,
        user_id,
        role,
    };
    log::record(tx, &changed, Audience::Chat(chat_id)).await
}

/// The group as a member sees it.
async fn group_for(tx: &Transaction<'_>, group_id: i64, user_id: i64) -> Result<Chat> {
    let chat = chat_by_id(tx, group_id)
        .await?
        .ok_or(AppError::GroupNotFound(group_id))?;
    let marker = membership(tx, group_id, user_id)
        .await?
        .ok_or(AppError::NotAMember(group_id))?;
    chat_view(tx, &chat, &marker, Some(user_id)).await
}

async fn change_group(tx: &Transaction<'_>, change: GroupChange) -> Result<GroupChanged> {
    let GroupChange {
        actor,
        group_id,
        action,
    } = change;
    let (chat, actor_membership) = member_chat(tx, actor, group_id, Expect::Group).await?;
    let target = match &action {
        GroupAction::Remove { user_id } | GroupAction::SetRole { user_id, .. } => Some(Target {
            exists: user_exists(tx, *user_id).await?,
            role: membership(tx, group_id, *user_id).await?.map(|m| m.role),
        }),
        GroupAction::Rename(_) | GroupAction::Leave => None,
    };
    let plan = plan_group_change(actor, &actor_membership, chat.name.as_deref(), action, target)?;
    let mut events = Vec::new();
    let mut gone = Vec::new();
    match plan {
        GroupPlan::Nothing => {}
        GroupPlan::Rename(name) => {
            execute(
                tx,
                "UPDATE chats SET name = $2 WHERE id = $1",
                &[&group_id, &name],
            )
            .await?;
            let chat = chat_by_id(tx, group_id)
                .await?
                .ok_or(AppError::GroupNotFound(group_id))?;
            let group = chat_view(tx, &chat, &actor_membership, None).await?;
            let updated = ChatEvent::GroupUpdated(group);
            events.push(log::record(tx, &updated, Audience::Chat(group_id)).await?);
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
            let logged = log::record(tx, &removed, Audience::Chat(group_id)).await?;
            log::end_membership(tx, group_id, user_id, logged.seq).await?;
            events.push(logged);
            gone.push(user_id);
            if role == Role::Owner
                && let Some(next) = successor(tx, group_id).await?
            {
                events.push(set_role(tx, group_id, next, Role::Owner).await?);
            }
        }
        GroupPlan::Roles(roles) => {
            for (user_id, role) in roles {
                events.push(set_role(tx, group_id, user_id, role).await?);
            }
        }
    }
    let group = if gone.contains(&actor) {
        None
    } else {
        Some(group_for(tx, group_id, actor).await?)
    };
    Ok(GroupChanged { group, gone, events })
}

#[async_trait]
impl Groups for PgStore {
    async fn create_group(&self, new: NewGroup, then: Then<GroupCreated>) -> Result<GroupCreated> {
        self.writer
            .submit(
                Work::Script(Box::new(move |tx| {
                    Box::pin(async move {
                        for &id in &new.members {
                            if !user_exists(tx, id).await? {
                                return Err(AppError::UserNotFound(id));
                            }
                        }
                        let now = Timestamp::now();
                        let seq = log::next_seq(tx).await?;
                        let inserted = row(
                            tx,
                            "INSERT INTO chats (kind, name, created_by, created_at, last_activity_at)
                             VALUES ('group', $1, $2, $3, $3) RETURNING id",
                            &[&new.name.as_str(), &new.owner, &now.0],
                        )
                        .await?
                        .ok_or_else(|| AppError::internal("INSERT … RETURNING gave no row"))?;
                        let group_id: i64 = rows::get(&inserted, 0)?;
                        insert_member(tx, group_id, new.owner, Role::Owner, now, seq).await?;
                        for &user in &new.members {
                            insert_member(tx, group_id, user, Role::Member, now, seq).await?;
                        }
                        let chat = chat_by_id(tx, group_id)
                            .await?
                            .ok_or_else(|| AppError::internal("a new group vanished"))?;
                        // A new group has no messages: this view is every member's.
                        let group = chat_view(tx, &chat, &Membership::fresh(Role::Owner), None).await?;
                        let created = ChatEvent::GroupCreated(group.clone());
                        let logged = log::record_at(tx, seq, &created, Audience::Chat(group_id)).await?;
                        Ok(GroupCreated {
                            group,
                            events: vec![logged],
                        })
                    })
                })),
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
        self.writer
            .submit(
                Work::Script(Box::new(move |tx| {
                    Box::pin(async move {
                        let (chat, actor_membership) =
                            member_chat(tx, actor, group_id, Expect::Group).await?;
                        let count = row(
                            tx,
                            "SELECT COUNT(*) FROM chat_members WHERE chat_id = $1",
                            &[&group_id],
                        )
                        .await?
                        .ok_or_else(|| AppError::internal("COUNT gave no row"))?;
                        let facts = AddFacts {
                            user_exists: user_exists(tx, user_id).await?,
                            already_member: membership(tx, group_id, user_id).await?.is_some(),
                            members: rows::get(&count, 0)?,
                        };
                        check_add_member(&actor_membership, group_id, user_id, max_members, facts)?;
                        // `member_added` to the members before; the new
                        // member hears of the group from `added_to_group` on.
                        let told_seq = log::next_seq(tx).await?;
                        let welcome_seq = log::next_seq(tx).await?;
                        let before = log::member_ids(tx, group_id).await?;
                        insert_member(tx, group_id, user_id, Role::Member, Timestamp::now(), welcome_seq)
                            .await?;
                        let sql = format!("{MEMBER_SELECT} WHERE cm.chat_id = $1 AND cm.user_id = $2");
                        let member = row(tx, &sql, &[&group_id, &user_id])
                            .await?
                            .as_ref()
                            .map(rows::member)
                            .transpose()?
                            .ok_or_else(|| AppError::internal("a new member vanished"))?;
                        let added = ChatEvent::MemberAdded {
                            group_id,
                            member: member.clone(),
                        };
                        let told = Logged::new(told_seq, &added, Some(group_id), before);
                        log::insert_logged(tx, std::slice::from_ref(&told)).await?;
                        let group = chat_view(tx, &chat, &Membership::fresh(Role::Member), None).await?;
                        let welcome = ChatEvent::AddedToGroup(group);
                        let welcomed =
                            log::record_at(tx, welcome_seq, &welcome, Audience::Users(&[user_id])).await?;
                        Ok(MemberAdded {
                            for_actor: chat_view(tx, &chat, &actor_membership, Some(actor)).await?,
                            member,
                            events: vec![told, welcomed],
                        })
                    })
                })),
                then,
            )
            .await
    }

    async fn change_group(&self, change: GroupChange, then: Then<GroupChanged>) -> Result<GroupChanged> {
        self.writer
            .submit(
                Work::Script(Box::new(move |tx| {
                    Box::pin(async move { change_group(tx, change).await })
                })),
                then,
            )
            .await
    }
}
