//! The DPO opens an identity document: the original bytes, decrypted,
//! each opening journaled on the request's timeline and in the audit log
//! with the staff member; `410` once the retention destroyed it.

use actix_web::{get, web, HttpResponse};

use super::error::RightsError;
use super::lifecycle::{Action, Role};
use super::queue::visible;
use super::service::RightsService;
use super::store;
use crate::audit::{self, Entry};
use crate::error::{ApiError, Problem};
use crate::staff::Staff;

/// The original bytes of an identity document; every opening is journaled.
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Request id.", format = "uuid"),
        ("document_id" = String, Path, description = "Document id.", format = "uuid"),
    ),
    responses(
        (status = 200, description = "The document's original bytes, with the type read from them.",
            content(
                (Vec<u8> = "application/pdf"),
                (Vec<u8> = "image/jpeg"),
                (Vec<u8> = "image/png"),
            ),
            headers(
                ("content-disposition" = String, description = "`attachment`, with the document's name."),
            )),
        (status = 401, description = "Not signed in.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request or document.", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Destroyed at the end of its retention.", body = Problem, content_type = "application/problem+json"),
    )
)]
#[get("/v1/dpo/requests/{id}/documents/{document_id}")]
pub async fn document(
    staff: Staff,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, document_id) = path.into_inner();
    Ok(open_document(&rights, &staff, id, document_id)
        .await?
        .into_response())
}

/// A document's original bytes, opened, with what the answer that sends it
/// says of them.
pub struct Opened {
    /// As read from the bytes when they were received.
    pub content_type: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// A document of a request the staff member may see, journaled, then
/// opened.
pub async fn open_document(
    rights: &RightsService,
    staff: &Staff,
    id: String,
    document_id: String,
) -> Result<Opened, RightsError> {
    let row = visible(rights, staff, id).await?;
    if uuid::Uuid::parse_str(&document_id).is_err() {
        return Err(RightsError::UnknownDocument);
    }
    let now = rights.clock.now().naive_utc();
    let (request_id, tenant_id, actor) = (row.id.clone(), row.tenant_id.clone(), staff.clone());
    let doc = rights
        .run(move |conn| {
            let doc = store::document(conn, &request_id, &document_id, Role::IdDocument)?
                .ok_or(RightsError::UnknownDocument)?;
            if doc.ciphertext.is_none() {
                return Err(RightsError::DocumentPurged);
            }
            crate::db::write_transaction(conn, |conn| {
                store::add_event(
                    conn,
                    &request_id,
                    now,
                    &actor.email,
                    Action::DocumentOpened,
                    None,
                    Some(serde_json::json!({"document": doc.id})),
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
    /// The download: an attachment under a harmless ASCII name (and its
    /// own name, percent-encoded, for the browsers that read it), never
    /// cached, never sniffed, never run.
    pub fn into_response(self) -> HttpResponse {
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
        HttpResponse::Ok()
            .content_type(self.content_type)
            .insert_header((
                "content-disposition",
                format!(
                    "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
                    percent_encoded(&self.filename)
                ),
            ))
            .insert_header(("cache-control", "no-store"))
            .insert_header(("x-content-type-options", "nosniff"))
            // Should a browser ever render it (a polyglot file), nothing in it runs.
            .insert_header(("content-security-policy", "default-src 'none'; sandbox"))
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
