//! Identity documents sealed (encrypted under the key ring) off the async
//! executor, ready to be stored.

use chrono::NaiveDateTime;

use super::documents::sha256_hex;
use super::error::RightsError;
use super::intake::Upload;
use super::service::RightsService;
use super::store::DocumentRow;

/// Encrypts documents off the async executor.
pub async fn seal_documents(
    rights: &RightsService,
    request_id: String,
    uploads: Vec<Upload>,
    now: NaiveDateTime,
) -> Result<Vec<DocumentRow>, RightsError> {
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
                })
            })
            .collect()
    })
    .await
    .map_err(|e| RightsError::Internal(format!("encryption task failed: {e}")))?
}
