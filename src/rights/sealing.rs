//! The files of a request (identity documents, attachments of the DPO's
//! answers) sealed (encrypted under the key ring) off the async executor,
//! ready to be stored; and opened again, off the executor too.

use chrono::NaiveDateTime;

use super::documents::sha256_hex;
use super::error::RightsError;
use super::intake::Upload;
use super::lifecycle::Role;
use super::service::RightsService;
use super::store::DocumentRow;

/// Encrypts identity documents off the async executor.
pub async fn seal_documents(
    rights: &RightsService,
    request_id: String,
    uploads: Vec<Upload>,
    now: NaiveDateTime,
) -> Result<Vec<DocumentRow>, RightsError> {
    seal_files(rights, request_id, uploads, Role::IdDocument, now).await
}

/// Encrypts files of one role off the async executor. An attachment's
/// message is named when the message is stored.
pub async fn seal_files(
    rights: &RightsService,
    request_id: String,
    uploads: Vec<Upload>,
    role: Role,
    now: NaiveDateTime,
) -> Result<Vec<DocumentRow>, RightsError> {
    if uploads.is_empty() {
        return Ok(Vec::new());
    }
    let keys = rights.documents.clone();
    actix_web::rt::task::spawn_blocking(move || {
        uploads
            .into_iter()
            .map(|mut up| {
                let id = uuid::Uuid::now_v7().to_string();
                let sha256 = sha256_hex(&up.bytes);
                let size = up.bytes.len() as i64;
                let (key_id, nonce) = keys
                    .seal(&id, &mut up.bytes)
                    .map_err(RightsError::Internal)?;
                Ok(DocumentRow {
                    id,
                    request_id: request_id.clone(),
                    filename: up.filename,
                    content_type: up.content_type.to_owned(),
                    size,
                    sha256,
                    key_id,
                    nonce,
                    ciphertext: Some(up.bytes),
                    uploaded_at: now,
                    purged_at: None,
                    role,
                    message_id: None,
                })
            })
            .collect()
    })
    .await
    .map_err(|e| RightsError::Internal(format!("encryption task failed: {e}")))?
}

/// Decrypts a stored file off the async executor (its content must still
/// be held: the caller answers `410` otherwise).
pub async fn unseal(rights: &RightsService, doc: DocumentRow) -> Result<Vec<u8>, RightsError> {
    let keys = rights.documents.clone();
    actix_web::rt::task::spawn_blocking(move || {
        let mut bytes = doc.ciphertext.unwrap_or_default();
        keys.open(&doc.id, &doc.key_id, &doc.nonce, &mut bytes)
            .map(|()| bytes)
    })
    .await
    .map_err(|e| RightsError::Internal(format!("decryption task failed: {e}")))?
    .map_err(RightsError::Internal)
}
