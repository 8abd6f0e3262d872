//! Referents: the DPO hands a request to the service that holds the data
//! (a `referent` account of the request's tenant) with a due date and a
//! note; the referent is e-mailed, sees only the requests assigned to it,
//! and answers with an internal note, never shown to the requester. Notes
//! are written by the DPO too; their text goes with the requester's data.
//! The reminder once a due date passes is `reminders.rs`.

use actix_web::{post, web, HttpResponse};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::access::{readable, visible};
use super::answer_form::check_length;
use super::error::RightsError;
use super::lifecycle::Action;
use super::notify::{console_link, human_date};
use super::service::RightsService;
use super::store;
use crate::audit::{self, Entry};
use crate::db::schema::{
    request_assignments as assignments, request_notes as notes, staff_tenants, staff_users,
};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::http::ValidatedJson;
use crate::mail::{Letter, Template};
use crate::staff::accounts::{normalise_email, Role};
use crate::staff::tenancy;
use crate::staff::Staff;

/// An assignment to make.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignmentRequest {
    /// The address of an enabled `referent` account serving the request's
    /// tenant.
    #[schema(format = "email", max_length = 254)]
    #[validate(length(max = 254))]
    pub referent_email: String,
    /// When the referent's note is expected: in the future, at most
    /// `requests.assignment_max_days` days ahead.
    pub due_at: DateTime<Utc>,
    /// What the DPO asks of the referent (at most
    /// `requests.message_max_chars` characters).
    #[schema(
        max_length = 50000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(custom(function = "crate::http::plain_text"))]
    pub note: Option<String>,
}

/// An internal note to add.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    /// More than white space, at most `requests.message_max_chars`
    /// characters. Never shown to the requester.
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    #[validate(
        custom(function = "crate::http::not_blank"),
        custom(function = "crate::http::plain_text")
    )]
    pub body: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = assignments)]
pub struct AssignmentRow {
    pub id: String,
    pub request_id: String,
    pub tenant_id: String,
    pub referent_id: String,
    pub assigned_by: String,
    pub note: Option<String>,
    pub due_at: NaiveDateTime,
    pub created_at: NaiveDateTime,
    pub answered_at: Option<NaiveDateTime>,
    pub reminded_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = notes)]
struct NoteRow {
    id: String,
    request_id: String,
    at: NaiveDateTime,
    author: String,
    body: Option<String>,
    erased_at: Option<NaiveDateTime>,
}

/// An assignment as the DPO and the referent read it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentView {
    #[schema(format = "uuid")]
    pub id: String,
    /// The referent's address.
    pub referent: String,
    /// Who assigned it.
    pub assigned_by: String,
    pub due_at: DateTime<Utc>,
    /// None once the requester's data was erased.
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the referent added its note; none until then.
    pub answered_at: Option<DateTime<Utc>>,
    /// When the referent was reminded (once, after the due date).
    pub reminded_at: Option<DateTime<Utc>>,
    /// Past its due date without the referent's note.
    pub late: bool,
}

impl AssignmentView {
    fn of(row: AssignmentRow, referent: String, now: NaiveDateTime) -> Self {
        Self {
            late: row.answered_at.is_none() && row.due_at < now,
            id: row.id,
            referent,
            assigned_by: row.assigned_by,
            due_at: row.due_at.and_utc(),
            note: row.note,
            created_at: row.created_at.and_utc(),
            answered_at: row.answered_at.map(|t| t.and_utc()),
            reminded_at: row.reminded_at.map(|t| t.and_utc()),
        }
    }
}

/// An internal note: never shown to the requester.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NoteView {
    #[schema(format = "uuid")]
    pub id: String,
    pub at: DateTime<Utc>,
    /// Its author's address.
    pub author: String,
    /// None once the requester's data was erased.
    pub body: Option<String>,
}

/// The assignments of these requests, each with its referent's address,
/// oldest first.
pub fn of_requests(
    conn: &mut DbConnection,
    ids: &[String],
    now: NaiveDateTime,
) -> QueryResult<Vec<(String, AssignmentView)>> {
    let rows: Vec<(AssignmentRow, String)> = assignments::table
        .inner_join(staff_users::table)
        .filter(assignments::request_id.eq_any(ids))
        .order((assignments::created_at.asc(), assignments::id.asc()))
        .select((AssignmentRow::as_select(), staff_users::email))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, email)| (row.request_id.clone(), AssignmentView::of(row, email, now)))
        .collect())
}

/// The internal notes of a request, oldest first.
pub fn notes_of(conn: &mut DbConnection, request_id: &str) -> QueryResult<Vec<NoteView>> {
    let rows: Vec<NoteRow> = notes::table
        .filter(notes::request_id.eq(request_id))
        .order((notes::at.asc(), notes::id.asc()))
        .select(NoteRow::as_select())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|n| NoteView {
            id: n.id,
            at: n.at.and_utc(),
            author: n.author,
            body: n.body,
        })
        .collect())
}

/// The referent account an assignment names, if it may take this request:
/// enabled, of role `referent`, serving the request's tenant.
fn referent_for(
    conn: &mut DbConnection,
    email: &str,
    tenant_id: &str,
) -> Result<(String, String), RightsError> {
    let found: Option<(String, String)> = staff_users::table
        .filter(staff_users::email.eq(normalise_email(email)))
        .filter(staff_users::role.eq(Role::Referent.as_str()))
        .filter(staff_users::disabled.eq(false))
        .select((staff_users::id, staff_users::email))
        .first(conn)
        .optional()?;
    let Some((id, email)) = found else {
        return Err(RightsError::field(
            "referent_email",
            "no enabled referent account has this address",
        ));
    };
    if !tenancy::tenants_of(conn, &id)?
        .iter()
        .any(|t| t == tenant_id)
    {
        return Err(RightsError::field(
            "referent_email",
            "this referent does not serve the request's tenant",
        ));
    }
    Ok((id, email))
}

/// Assigns a request the DPO may see to a referent of its tenant: kept,
/// on the timeline and in the journal, and the referent e-mailed, in one
/// transaction.
pub async fn assign(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: AssignmentRequest,
) -> Result<AssignmentView, RightsError> {
    if staff.is_referent() {
        return Err(RightsError::NotForRole(
            "A referent cannot assign a request.",
        ));
    }
    let limits = &rights.settings.requests;
    check_length("note", body.note.as_deref(), limits.message_max_chars)?;
    let now = rights.clock.now();
    if body.due_at <= now {
        return Err(RightsError::field("due_at", "must be in the future"));
    }
    let max_days = limits.assignment_max_days;
    if body.due_at > now + Duration::days(i64::from(max_days)) {
        return Err(RightsError::field(
            "due_at",
            format!("must be at most {max_days} days ahead"),
        ));
    }
    let row = visible(rights, staff, id).await?;
    let tenant = rights
        .tenants
        .by_id(&row.tenant_id)
        .ok_or(RightsError::UnknownRequest)?;
    let note = body
        .note
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    let (rights2, actor) = (rights.clone(), staff.clone());
    let at = now.naive_utc();
    let due_at = body.due_at.naive_utc();
    rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                let row = store::lock(conn, &row.id)?.ok_or(RightsError::UnknownRequest)?;
                if !row.is_open {
                    return Err(RightsError::RequestClosed);
                }
                let (referent_id, referent) =
                    referent_for(conn, &body.referent_email, &row.tenant_id)?;
                let assignment = AssignmentRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    request_id: row.id.clone(),
                    tenant_id: row.tenant_id.clone(),
                    referent_id: referent_id.clone(),
                    assigned_by: actor.email.clone(),
                    note,
                    due_at,
                    created_at: at,
                    answered_at: None,
                    reminded_at: None,
                };
                diesel::insert_into(assignments::table)
                    .values(&assignment)
                    .execute(conn)?;
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::Assigned,
                    None,
                    Some(serde_json::json!({
                        "assignment_id": assignment.id, "referent": referent,
                        "due_at": body.due_at.to_rfc3339(),
                    })),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_ASSIGNED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.reference),
                        detail: Some(serde_json::json!({
                            "assignment_id": assignment.id, "referent_id": referent_id,
                            "due_at": body.due_at.to_rfc3339(),
                        })),
                        ..Default::default()
                    },
                    at,
                )?;
                let locale = tenant.config.locale;
                let tz = rights2.settings.requests.tz();
                let ctx = serde_json::json!({
                    "reference": row.reference,
                    "kind_label": row.kind.label(locale),
                    "due_at": human_date(body.due_at, locale, tz),
                    "request_due_at": human_date(row.due_at.and_utc(), locale, tz),
                    "assigned_by": actor.email,
                    "note": assignment.note,
                    "link": console_link(&rights2.settings.server.public_url, &row.id),
                });
                let letter = Letter {
                    tenant: Some(&tenant),
                    locale,
                    to: &referent,
                    template: Template::ReferentAssigned,
                };
                rights2.mail.enqueue(conn, letter, ctx, at)?;
                Ok(AssignmentView::of(assignment, referent, at))
            })
        })
        .await
}

/// Adds an internal note to a request the staff member may read; a
/// referent's note answers its assignments of the request.
pub async fn add_note(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    body: &str,
) -> Result<NoteView, RightsError> {
    check_length(
        "body",
        Some(body),
        rights.settings.requests.message_max_chars,
    )?;
    let text = body.trim().to_owned();
    let row = readable(rights, staff, id).await?;
    let actor = staff.clone();
    let at = rights.clock.now().naive_utc();
    rights
        .run(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                // Held until the note commits: the retention's erasure
                // comes wholly before (then no note is taken) or after.
                let row = store::lock(conn, &row.id)?.ok_or(RightsError::UnknownRequest)?;
                if row.erased_at.is_some() {
                    return Err(RightsError::RequesterErased);
                }
                let note = NoteRow {
                    id: uuid::Uuid::now_v7().to_string(),
                    request_id: row.id.clone(),
                    at,
                    author: actor.email.clone(),
                    body: Some(text),
                    erased_at: None,
                };
                diesel::insert_into(notes::table)
                    .values(&note)
                    .execute(conn)?;
                let answered = if actor.is_referent() {
                    diesel::update(
                        assignments::table
                            .filter(assignments::request_id.eq(&row.id))
                            .filter(assignments::referent_id.eq(&actor.id))
                            .filter(assignments::answered_at.is_null()),
                    )
                    .set(assignments::answered_at.eq(Some(at)))
                    .execute(conn)?
                } else {
                    0
                };
                let length = note.body.as_deref().map_or(0, |b| b.chars().count());
                store::add_event(
                    conn,
                    &row.id,
                    at,
                    &actor.email,
                    Action::Noted,
                    None,
                    Some(serde_json::json!({"note_id": note.id, "length": length})),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::REQUEST_NOTED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&row.reference),
                        detail: Some(serde_json::json!({
                            "note_id": note.id, "length": length,
                            "assignments_answered": answered,
                        })),
                        ..Default::default()
                    },
                    at,
                )?;
                Ok(NoteView {
                    id: note.id,
                    at: at.and_utc(),
                    author: note.author,
                    body: note.body,
                })
            })
        })
        .await
}

/// Erases the text of the notes and assignments of these requests, with
/// the requester's data (the rows stay, saying when).
pub fn erase(conn: &mut DbConnection, ids: &[String], at: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        notes::table
            .filter(notes::request_id.eq_any(ids))
            .filter(notes::erased_at.is_null()),
    )
    .set((
        notes::body.eq(None::<String>),
        notes::erased_at.eq(Some(at)),
    ))
    .execute(conn)?;
    diesel::update(assignments::table.filter(assignments::request_id.eq_any(ids)))
        .set(assignments::note.eq(None::<String>))
        .execute(conn)?;
    Ok(())
}

/// Assigns a request to a referent of its tenant, who is e-mailed.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body = AssignmentRequest,
    responses(
        (status = 201, description = "Assigned; the referent's e-mail queued.", body = AssignmentView),
        (status = 403, description = "A referent cannot assign."),
        (status = 404, description = "No such request (or another tenant's)."),
        (status = 409, description = "The request is closed (`request_closed`), or a concurrent change got in the way (`concurrent_change`)."),
        (status = 422, description = "No enabled referent of the request's tenant has this address (`referent_email`), a due date in the past or too far ahead (`due_at`), a note too long (`note`)."),
    )
)]
#[post("/v1/dpo/requests/{id}/assignments")]
pub async fn assign_route(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    body: ValidatedJson<AssignmentRequest>,
) -> Result<HttpResponse, ApiError> {
    let made = assign(&rights, &staff, path.into_inner(), body.0).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(made))
}

/// Adds an internal note to a request (never shown to the requester); a
/// referent's note answers what was assigned to it.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "Request id.", format = "uuid")),
    request_body = NoteRequest,
    responses(
        (status = 201, description = "Kept.", body = NoteView),
        (status = 404, description = "No such request (another tenant's, or for a referent one not assigned to it)."),
        (status = 409, description = "The requester's data was erased (`requester_erased`), or a concurrent change got in the way (`concurrent_change`)."),
        (status = 422, description = "Empty, too long or with control characters (`body`)."),
    )
)]
#[post("/v1/dpo/requests/{id}/notes")]
pub async fn note_route(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
    body: ValidatedJson<NoteRequest>,
) -> Result<HttpResponse, ApiError> {
    let kept = add_note(&rights, &staff, path.into_inner(), &body.0.body).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(kept))
}

/// The addresses of the enabled referent accounts serving a tenant, for
/// the console's choice.
pub fn candidates(conn: &mut DbConnection, tenant_id: &str) -> QueryResult<Vec<String>> {
    staff_users::table
        .filter(staff_users::role.eq(Role::Referent.as_str()))
        .filter(staff_users::disabled.eq(false))
        .filter(
            staff_users::id.eq_any(
                staff_tenants::table
                    .filter(staff_tenants::tenant_id.eq(tenant_id.to_owned()))
                    .select(staff_tenants::staff_id),
            ),
        )
        .order(staff_users::email.asc())
        .select(staff_users::email)
        .load(conn)
}
