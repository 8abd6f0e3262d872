//! The DPO's answers to the requester: messages, closing notes and
//! rejection reasons, each kept with its text (the proof of what was
//! answered) and its attachments until the retention erases the
//! requester's data. An answer is recorded in the transaction of the
//! change that sends it, the request held (`store::lock`), with an entry
//! of the audit log that names the request by its reference and the
//! answer by its id, length and files' SHA-256, never its text.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::RightsError;
use super::lifecycle::{MessageKind, Role};
use super::store::{self, DocumentRow, RequestRow};
use crate::audit::{self, Entry};
use crate::db::schema::{request_documents as docs, request_messages as messages};
use crate::db::DbConnection;
use crate::staff::Staff;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = messages)]
pub struct MessageRow {
    pub id: String,
    pub request_id: String,
    pub at: NaiveDateTime,
    /// The staff member's e-mail, as the timeline's actors are.
    pub author: String,
    pub kind: MessageKind,
    /// `None` once the retention erased it.
    pub body: Option<String>,
    pub erased_at: Option<NaiveDateTime>,
}

/// An attachment's metadata, without its content.
#[derive(Debug, Clone, Queryable)]
pub struct AttachmentMeta {
    pub id: String,
    pub message_id: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub purged_at: Option<NaiveDateTime>,
}

/// An answer about to be sent: its kind, its text, its attachments sealed.
pub struct Outgoing {
    pub kind: MessageKind,
    pub body: String,
    pub attachments: Vec<DocumentRow>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttachmentView {
    #[schema(format = "uuid")]
    pub id: String,
    pub filename: String,
    /// As read from the file's bytes (`application/octet-stream` when not
    /// known).
    pub content_type: String,
    /// Bytes.
    #[schema(minimum = 0)]
    pub size: i64,
    /// Of the original bytes, in hexadecimal.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// When the content was destroyed with the requester's data.
    pub purged_at: Option<DateTime<Utc>>,
}

/// An answer as the DPO sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    #[schema(format = "uuid")]
    pub id: String,
    pub at: DateTime<Utc>,
    /// The staff member's e-mail.
    pub author: String,
    pub kind: MessageKind,
    /// The text as sent; `null` once the retention erased it.
    pub body: Option<String>,
    pub erased_at: Option<DateTime<Utc>>,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackedAttachment {
    #[schema(format = "uuid")]
    pub id: String,
    pub filename: String,
    pub content_type: String,
    #[schema(minimum = 0)]
    pub size: i64,
}

/// An answer as the requester sees it on the tracking page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackedMessage {
    #[schema(format = "uuid")]
    pub id: String,
    pub at: DateTime<Utc>,
    pub kind: MessageKind,
    pub body: Option<String>,
    pub attachments: Vec<TrackedAttachment>,
}

/// Records an answer to the request `row` (held by the caller's
/// transaction): the message, its attachments, and the audit log's entry.
pub fn record(
    conn: &mut DbConnection,
    row: &RequestRow,
    actor: &Staff,
    outgoing: Outgoing,
    at: NaiveDateTime,
) -> Result<MessageView, RightsError> {
    // Made under the request's lock: of two answers at once, the second
    // has the later id, and the order of the ids is the order of commits.
    let message = MessageRow {
        id: uuid::Uuid::now_v7().to_string(),
        request_id: row.id.clone(),
        at,
        author: actor.email.clone(),
        kind: outgoing.kind,
        body: Some(outgoing.body),
        erased_at: None,
    };
    diesel::insert_into(messages::table)
        .values(&message)
        .execute(conn)?;
    let mut attachments = Vec::with_capacity(outgoing.attachments.len());
    for mut doc in outgoing.attachments {
        doc.message_id = Some(message.id.clone());
        doc.role = Role::Attachment;
        store::insert_document(conn, &doc)?;
        attachments.push(AttachmentMeta {
            id: doc.id,
            message_id: doc.message_id,
            filename: doc.filename,
            content_type: doc.content_type,
            size: doc.size,
            sha256: doc.sha256,
            purged_at: None,
        });
    }
    let length = message.body.as_deref().map_or(0, |b| b.chars().count());
    audit::record(
        conn,
        Entry {
            tenant_id: Some(&row.tenant_id),
            kind: audit::kind::REQUEST_MESSAGE,
            actor_id: Some(&actor.id),
            subject_id: Some(&message.id),
            detail: Some(serde_json::json!({
                "request": row.reference,
                "message": message.id,
                "kind": message.kind,
                "length": length,
                "attachments": attachments.iter().map(|a| &a.sha256).collect::<Vec<_>>(),
            })),
            ..Default::default()
        },
        at,
    )?;
    Ok(view(message, attachments))
}

/// The request's answers, oldest first.
pub fn list(conn: &mut DbConnection, request_id: &str) -> QueryResult<Vec<MessageRow>> {
    messages::table
        .filter(messages::request_id.eq(request_id))
        .order((messages::at.asc(), messages::id.asc()))
        .select(MessageRow::as_select())
        .load(conn)
}

/// The attachments of the request's answers, without their contents.
pub fn attachments(conn: &mut DbConnection, request_id: &str) -> QueryResult<Vec<AttachmentMeta>> {
    docs::table
        .filter(docs::request_id.eq(request_id))
        .filter(docs::role.eq(Role::Attachment))
        .order((docs::uploaded_at.asc(), docs::id.asc()))
        .select((
            docs::id,
            docs::message_id,
            docs::filename,
            docs::content_type,
            docs::size,
            docs::sha256,
            docs::purged_at,
        ))
        .load(conn)
}

/// The request's answers with their attachments, oldest first.
pub fn views(conn: &mut DbConnection, request_id: &str) -> QueryResult<Vec<MessageView>> {
    let rows = list(conn, request_id)?;
    let mut files: HashMap<String, Vec<AttachmentMeta>> = HashMap::new();
    for a in attachments(conn, request_id)? {
        if let Some(message) = a.message_id.clone() {
            files.entry(message).or_default().push(a);
        }
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let attached = files.remove(&m.id).unwrap_or_default();
            view(m, attached)
        })
        .collect())
}

fn view(m: MessageRow, attachments: Vec<AttachmentMeta>) -> MessageView {
    MessageView {
        id: m.id,
        at: m.at.and_utc(),
        author: m.author,
        kind: m.kind,
        body: m.body,
        erased_at: m.erased_at.map(|t| t.and_utc()),
        attachments: attachments
            .into_iter()
            .map(|a| AttachmentView {
                id: a.id,
                filename: a.filename,
                content_type: a.content_type,
                size: a.size,
                sha256: a.sha256,
                purged_at: a.purged_at.map(|t| t.and_utc()),
            })
            .collect(),
    }
}

impl From<MessageView> for TrackedMessage {
    fn from(m: MessageView) -> Self {
        Self {
            id: m.id,
            at: m.at,
            kind: m.kind,
            body: m.body,
            attachments: m
                .attachments
                .into_iter()
                .map(|a| TrackedAttachment {
                    id: a.id,
                    filename: a.filename,
                    content_type: a.content_type,
                    size: a.size,
                })
                .collect(),
        }
    }
}
