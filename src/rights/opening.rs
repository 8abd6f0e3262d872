//! The DPO opens an identity document: the original bytes, decrypted,
//! each opening journaled on the request's timeline and in the audit log
//! with the staff member; `410` once the retention, or a verified identity,
//! destroyed it. A download by default; shown in the browser (`inline`,
//! for PDF and images) when asked, in a sandbox where nothing runs.

use actix_web::{get, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::RightsError;
use super::identity::IdentityOutcome;
use super::lifecycle::{Action, Role};
use super::queue::visible;
use super::service::RightsService;
use super::store;
use crate::audit::{self, Entry};
use crate::error::ApiError;
use crate::staff::Staff;

/// How the answer hands the document to the browser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A file to save (`Content-Disposition: attachment`).
    #[default]
    Attachment,
    /// Shown in the browser's tab (`Content-Disposition: inline`), for a
    /// PDF or an image: no clear copy left on the DPO's disk.
    Inline,
}

impl Disposition {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Attachment => "attachment",
            Self::Inline => "inline",
        }
    }

    /// As asked, for a type the browser shows itself (a PDF, an image);
    /// a download for any other.
    pub fn for_type(self, content_type: &str) -> Self {
        if SHOWN_INLINE.contains(&content_type) {
            self
        } else {
            Self::Attachment
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// `attachment` (the default) or `inline`.
    pub disposition: Option<Disposition>,
}

/// The policy of a document shown in the browser: a sandbox (no script, no
/// form, no navigation, an origin of its own), nothing fetched but the
/// document itself; Chromium's PDF viewer and the browsers' image view
/// still show it.
const INLINE_CSP: &str =
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'";

/// The policy of a download, should a browser ever render it (a polyglot
/// file): nothing in it runs.
const ATTACHMENT_CSP: &str = "default-src 'none'; sandbox";

/// The types a browser shows itself, without anything of the document
/// running.
const SHOWN_INLINE: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];

/// The original bytes of an identity document; every opening is journaled.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Request id.", format = "uuid"),
        ("document_id" = String, Path, description = "Document id.", format = "uuid"),
        DocumentQuery,
    ),
    responses(
        (status = 200, description = "The document's original bytes, with the type read from them.",
            content(
                (Vec<u8> = "application/pdf"),
                (Vec<u8> = "image/jpeg"),
                (Vec<u8> = "image/png"),
            ),
            headers(
                ("content-disposition" = String, description = "`attachment` (or `inline` when asked), with the document's name."),
                ("content-security-policy" = String, description = "A sandbox: nothing in the document runs."),
                ("cache-control" = String, description = "`no-store`."),
            )),
        (status = 404, description = "No such request or document."),
        (status = 410, description = "Its content was destroyed at the end of its retention, or once the requester's identity was verified (`document_purged`)."),
    )
)]
#[get("/v1/dpo/requests/{id}/documents/{document_id}")]
pub async fn document(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
    query: web::Query<DocumentQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, document_id) = path.into_inner();
    let disposition = query.disposition.unwrap_or_default();
    Ok(open_document(&rights, &staff, id, document_id, disposition)
        .await?
        .respond(disposition))
}

/// A document's original bytes, opened, with what the answer that sends it
/// says of them.
pub struct Opened {
    /// As read from the bytes when they were received.
    pub content_type: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// A document of a request the staff member may see, journaled (the queue
/// then no longer marks a document that had arrived), then opened; shown
/// `inline` only if it is a PDF or an image.
pub async fn open_document(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    document_id: String,
    disposition: Disposition,
) -> Result<Opened, RightsError> {
    let row = visible(rights, staff, id).await?;
    if uuid::Uuid::parse_str(&document_id).is_err() {
        return Err(RightsError::UnknownDocument);
    }
    let now = rights.clock.now().naive_utc();
    let (request_id, tenant_id, actor) = (row.id.clone(), row.tenant_id.clone(), staff.clone());
    let doc = rights
        .run(move |conn| {
            let doc = store::document(conn, &request_id, &document_id, &Role::GIVEN)?
                .ok_or(RightsError::UnknownDocument)?;
            if doc.ciphertext.is_none() {
                let verified = row.identity_outcome == Some(IdentityOutcome::Verified);
                return Err(if verified && doc.purged_at == row.identity_at {
                    RightsError::DocumentDestroyedOnVerification
                } else {
                    RightsError::DocumentPurged
                });
            }
            let disposition = disposition.for_type(&doc.content_type);
            crate::db::write_transaction(conn, |conn| {
                if let Some(arrived) = row.new_document_at {
                    store::mark_seen(conn, &request_id, arrived)?;
                }
                store::add_event(
                    conn,
                    &request_id,
                    now,
                    &actor.email,
                    Action::DocumentOpened,
                    None,
                    Some(serde_json::json!({
                        "document": doc.id, "disposition": disposition.as_str(),
                    })),
                )?;
                audit::record(
                    conn,
                    Entry {
                        tenant_id: Some(&tenant_id),
                        kind: audit::kind::DOCUMENT_OPENED,
                        actor_id: Some(&actor.id),
                        subject_id: Some(&doc.id),
                        detail: Some(serde_json::json!({"request": request_id})),
                        ..Default::default()
                    },
                    now,
                )
            })?;
            Ok(doc)
        })
        .await?;
    let (content_type, filename) = (doc.content_type.clone(), doc.filename.clone());
    let bytes = super::sealing::unseal(rights, doc).await?;
    Ok(Opened {
        content_type,
        filename,
        bytes,
    })
}

impl Opened {
    /// The download (`respond` with an attachment).
    pub fn into_response(self) -> HttpResponse {
        self.respond(Disposition::Attachment)
    }

    /// The answer: an attachment, or shown in the browser (`inline`) if it
    /// is a PDF or an image, under a harmless ASCII name (and its own name,
    /// percent-encoded, for the browsers that read it), never cached, never
    /// sniffed, never run.
    pub fn respond(self, disposition: Disposition) -> HttpResponse {
        let disposition = disposition.for_type(&self.content_type);
        let ascii: String = self
            .filename
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let csp = match disposition {
            Disposition::Inline => INLINE_CSP,
            Disposition::Attachment => ATTACHMENT_CSP,
        };
        HttpResponse::Ok()
            .content_type(self.content_type)
            .insert_header((
                "content-disposition",
                format!(
                    "{}; filename=\"{ascii}\"; filename*=UTF-8''{}",
                    disposition.as_str(),
                    percent_encoded(&self.filename)
                ),
            ))
            .insert_header(("cache-control", "no-store"))
            .insert_header(("x-content-type-options", "nosniff"))
            .insert_header(("content-security-policy", csp))
            .body(self.bytes)
    }
}

/// A name as RFC 5987 writes it in `filename*`: every byte but letters,
/// digits and `.-_~` percent-encoded.
fn percent_encoded(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sent_harmless_and_whole() {
        let res = Opened {
            content_type: "application/pdf".into(),
            filename: "Réponse signée\";.pdf".into(),
            bytes: Vec::new(),
        }
        .into_response();
        let disposition = res
            .headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(
            disposition,
            "attachment; filename=\"R_ponse_sign_e__.pdf\"; \
             filename*=UTF-8''R%C3%A9ponse%20sign%C3%A9e%22%3B.pdf"
        );
    }
}
