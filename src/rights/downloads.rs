//! The attachments of the DPO's answers, downloaded: by the requester from
//! the tracking page (each download on the request's timeline, where the
//! DPO sees it) and by the DPO (journaled as an identity document's
//! opening is). `404` for a file of another request, `410` once the
//! retention destroyed it with the requester's data.

use actix_web::{get, web, HttpResponse};

use super::error::RightsError;
use super::lifecycle::{Action, Role};
use super::opening::Opened;
use super::queue::visible;
use super::sealing::unseal;
use super::service::RightsService;
use super::store::{self, token_hash, DocumentRow};
use crate::audit::{self, Entry};
use crate::error::ApiError;
use crate::staff::Staff;

/// An attachment of the request `request_id`, its content still held.
fn held_attachment(
    conn: &mut crate::db::DbConnection,
    request_id: &str,
    attachment_id: &str,
) -> Result<DocumentRow, RightsError> {
    let doc = store::document(conn, request_id, attachment_id, &[Role::Attachment])?
        .ok_or(RightsError::UnknownAttachment)?;
    if doc.ciphertext.is_none() {
        return Err(RightsError::AttachmentPurged);
    }
    Ok(doc)
}

/// The attachment decrypted, with what its answer says of it.
async fn opened(rights: &RightsService, doc: DocumentRow) -> Result<Opened, RightsError> {
    let (content_type, filename) = (doc.content_type.clone(), doc.filename.clone());
    Ok(Opened {
        content_type,
        filename,
        bytes: unseal(rights, doc).await?,
    })
}

/// An attachment of an answer, for the requester; every download is on the
/// request's timeline.
#[utoipa::path(
    tag = "requests",
    params(
        ("tracking_token" = String, Path, description = "The tracking token.", max_length = 100),
        ("attachment_id" = String, Path, description = "Attachment id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The file's original bytes, with the type read from them.",
            content((Vec<u8> = "application/octet-stream")),
            headers(
                ("content-disposition" = String, description = "`attachment`, with the file's name (`filename*`, UTF-8)."),
                ("cache-control" = String, description = "`no-store`."),
                ("x-content-type-options" = String, description = "`nosniff`."),
            )),
        (status = 404, description = "Unknown token, or no attachment of this request has this id."),
        (status = 410, description = "Destroyed with the requester's data (`attachment_purged`)."),
    )
)]
#[get("/v1/requests/track/{tracking_token}/attachments/{attachment_id}")]
pub async fn requester_attachment(
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (token, attachment_id) = path.into_inner();
    Ok(download(&rights, &token, attachment_id)
        .await?
        .into_response())
}

/// An attachment of the request a tracking token opens, its download
/// journaled on the timeline (by the requester) before it is decrypted.
pub async fn download(
    rights: &RightsService,
    token: &str,
    attachment_id: String,
) -> Result<Opened, RightsError> {
    if token.is_empty() || token.len() > 100 {
        return Err(RightsError::UnknownTracking);
    }
    if uuid::Uuid::parse_str(&attachment_id).is_err() {
        return Err(RightsError::UnknownAttachment);
    }
    let hash = token_hash(token);
    let now = rights.clock.now().naive_utc();
    let doc = rights
        .run(move |conn| {
            let row = store::find_by_tracking(conn, &hash)?.ok_or(RightsError::UnknownTracking)?;
            let doc = held_attachment(conn, &row.id, &attachment_id)?;
            store::add_event(
                conn,
                &row.id,
                now,
                "requester",
                Action::AttachmentDownloaded,
                None,
                Some(serde_json::json!({"attachment": doc.id})),
            )?;
            Ok(doc)
        })
        .await?;
    opened(rights, doc).await
}

/// An attachment of an answer, for the DPO; every opening is journaled.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Request id.", format = "uuid"),
        ("attachment_id" = String, Path, description = "Attachment id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The file's original bytes, with the type read from them.",
            content((Vec<u8> = "application/octet-stream")),
            headers(
                ("content-disposition" = String, description = "`attachment`, with the file's name."),
            )),
        (status = 404, description = "No such request (or another tenant's), or no attachment of it has this id."),
        (status = 410, description = "Destroyed with the requester's data (`attachment_purged`)."),
    )
)]
#[get("/v1/dpo/requests/{id}/attachments/{attachment_id}")]
pub async fn dpo_attachment(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, attachment_id) = path.into_inner();
    Ok(open_attachment(&rights, &staff, id, attachment_id)
        .await?
        .into_response())
}

/// An attachment of a request the staff member may see, its opening
/// journaled on the timeline and in the audit log, then decrypted.
pub async fn open_attachment(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    attachment_id: String,
) -> Result<Opened, RightsError> {
    let row = visible(rights, staff, id).await?;
    if uuid::Uuid::parse_str(&attachment_id).is_err() {
        return Err(RightsError::UnknownAttachment);
    }
    let now = rights.clock.now().naive_utc();
    let actor = staff.clone();
    let doc = rights
        .run(move |conn| {
            let doc = held_attachment(conn, &row.id, &attachment_id)?;
            crate::db::write_transaction(conn, |conn| {
                store::add_event(
                    conn,
                    &row.id,
                    now,
                    &actor.email,
                    Action::DocumentOpened,
                    None,
                    Some(serde_json::json!({"document": doc.id, "role": Role::Attachment})),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&row.tenant_id),
                        kind: audit::kind::DOCUMENT_OPENED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&doc.id),
                        detail: Some(serde_json::json!({
                            "request": row.reference,
                            "role": Role::Attachment,
                        })),
                        ..Default::default()
                    },
                    now,
                )
            })?;
            Ok(doc)
        })
        .await?;
    opened(rights, doc).await
}
