//! Groups on PostgreSQL: creating one and adding members (the store's
//! `Groups` operations).

use async_trait::async_trait;

use super::PgStore;
use super::access::{chat_by_id, member_chat, membership};
use super::chats::{chat_view, insert_member};
use super::rows::{self, MEMBER_SELECT, row};
use super::users::user_exists;
use super::writer::Work;
use crate::domain::{Chat, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::store::model::{AddFacts, Membership, check_add_member};
use crate::store::{AddMember, Expect, Groups, MemberAdded, NewGroup, Then};

#[async_trait]
impl Groups for PgStore {
    async fn create_group(&self, new: NewGroup, then: Then<Chat>) -> Result<Chat> {
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
                        let inserted = row(
                            tx,
                            "INSERT INTO chats (kind, name, created_by, created_at, last_activity_at)
                             VALUES ('group', $1, $2, $3, $3) RETURNING id",
                            &[&new.name.as_str(), &new.owner, &now.0],
                        )
                        .await?
                        .ok_or_else(|| AppError::internal("INSERT … RETURNING gave no row"))?;
                        let group_id: i64 = rows::get(&inserted, 0)?;
                        insert_member(tx, group_id, new.owner, Role::Owner, now).await?;
                        for &user in &new.members {
                            insert_member(tx, group_id, user, Role::Member, now).await?;
                        }
                        let chat = chat_by_id(tx, group_id)
                            .await?
                            .ok_or_else(|| AppError::internal("a new group vanished"))?;
                        // A new group has no messages: this view is every member's.
                        chat_view(tx, &chat, &Membership::fresh(Role::Owner), None).await
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
                        insert_member(tx, group_id, user_id, Role::Member, Timestamp::now()).await?;
                        let sql = format!("{MEMBER_SELECT} WHERE cm.chat_id = $1 AND cm.user_id = $2");
                        let member = row(tx, &sql, &[&group_id, &user_id])
                            .await?
                            .as_ref()
                            .map(rows::member)
                            .transpose()?
                            .ok_or_else(|| AppError::internal("a new member vanished"))?;
                        Ok(MemberAdded {
                            for_actor: chat_view(tx, &chat, &actor_membership, Some(actor)).await?,
                            for_new_member: chat_view(tx, &chat, &Membership::fresh(Role::Member), None)
                                .await?,
                            member,
                        })
                    })
                })),
                then,
            )
            .await
    }
}
