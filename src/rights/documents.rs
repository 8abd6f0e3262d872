//! Identity documents: their type read from their bytes, their name made
//! harmless, their content encrypted at rest with AES-256-GCM under a key
//! ring (the key id is kept with each document, so keys can rotate).

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use diesel::QueryResult;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::schema::request_documents as docs;
use crate::db::DbConnection;
use crate::secrets::Key;

/// The content type of a PDF, JPEG or PNG file, from its first bytes;
/// `None` for anything else, whatever its name says.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// A display name only: no folders, no control characters, at most 100
/// characters; never used as a path.
pub fn display_name(raw: Option<&str>, content_type: &str) -> String {
    let ext = match content_type {
        "application/pdf" => "pdf",
        "image/jpeg" => "jpg",
        _ => "png",
    };
    display_name_or(raw, &format!("document.{ext}"))
}

/// `display_name`, with `fallback` for a name that leaves nothing.
pub fn display_name_or(raw: Option<&str>, fallback: &str) -> String {
    let base = raw
        .unwrap_or("")
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '<' | '>' | '"' | '|' | '*' | '?' | ':'))
        .collect::<String>();
    let trimmed = base.trim().trim_start_matches('.').trim();
    if trimmed.is_empty() {
        return fallback.to_owned();
    }
    trimmed.chars().take(100).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The keys that encrypt and decrypt documents: the current one, and
/// retired ones still able to decrypt.
pub struct KeyRing {
    current: (String, Aes256Gcm),
    retired: Vec<(String, Aes256Gcm)>,
}

fn key_id(key: &Key) -> String {
    hex::encode(&Sha256::digest(key.bytes())[..6])
}

impl KeyRing {
    pub fn new(current: &Key, retired: &[Key]) -> Self {
        let cipher = |k: &Key| Aes256Gcm::new_from_slice(k.bytes()).expect("32-byte key");
        Self {
            current: (key_id(current), cipher(current)),
            retired: retired.iter().map(|k| (key_id(k), cipher(k))).collect(),
        }
    }

    /// Encrypts `content` in place (the tag is appended): no second copy.
    /// The document id is bound to the ciphertext as associated data.
    pub fn seal(
        &self,
        document_id: &str,
        content: &mut Vec<u8>,
    ) -> Result<(String, Vec<u8>), String> {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        self.current
            .1
            .encrypt_in_place(&Nonce::from(nonce), document_id.as_bytes(), content)
            .map_err(|_| "encryption failed".to_owned())?;
        Ok((self.current.0.clone(), nonce.to_vec()))
    }

    /// The id of the key that seals new documents.
    pub fn current_id(&self) -> &str {
        &self.current.0
    }

    /// Whether the ring has the key of this id.
    pub fn holds(&self, key_id: &str) -> bool {
        std::iter::once(&self.current)
            .chain(&self.retired)
            .any(|(id, _)| id == key_id)
    }

    /// Decrypts in place with the key the document names.
    pub fn open(
        &self,
        document_id: &str,
        key_id: &str,
        nonce: &[u8],
        sealed: &mut Vec<u8>,
    ) -> Result<(), String> {
        let cipher = std::iter::once(&self.current)
            .chain(&self.retired)
            .find(|(id, _)| id == key_id)
            .map(|(_, c)| c)
            .ok_or_else(|| format!("no key `{key_id}` in the key ring"))?;
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| "bad nonce".to_owned())?;
        cipher
            .decrypt_in_place(&Nonce::from(nonce), document_id.as_bytes(), sealed)
            .map_err(|_| "the document does not decrypt: altered, or another key".to_owned())
    }
}

/// The first key id that files still held (identity documents, answers'
/// attachments) are sealed under and the ring lacks: a start refuses to
/// serve such a database rather than fail on each download. One pass over
/// the key ids, never over the contents.
pub fn missing_key(conn: &mut DbConnection, ring: &KeyRing) -> QueryResult<Option<String>> {
    use diesel::prelude::*;
    let ids: Vec<String> = docs::table
        .filter(docs::ciphertext.is_not_null())
        .select(docs::key_id)
        .distinct()
        .load(conn)?;
    Ok(ids.into_iter().find(|id| !ring.holds(id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"%PDF-1.7\n..."), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff(b"PK\x03\x04zip bomb"), None);
        assert_eq!(sniff(b"<html>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn names_are_for_display_only() {
        assert_eq!(
            display_name(Some("../../etc/passwd"), "application/pdf"),
            "passwd"
        );
        assert_eq!(
            display_name(Some("C:\\Users\\x\\carte.pdf"), "application/pdf"),
            "carte.pdf"
        );
        assert_eq!(display_name(Some("..\u{0}.pdf"), "application/pdf"), "pdf");
        assert_eq!(display_name(None, "image/png"), "document.png");
        assert_eq!(display_name(Some("  "), "image/jpeg"), "document.jpg");
        assert_eq!(
            display_name(Some(&"a".repeat(300)), "image/jpeg").len(),
            100
        );
    }

    #[test]
    fn sealed_documents_open_only_with_their_key_and_id() {
        let old = Key::from_bytes([1; 32]);
        let new = Key::from_bytes([2; 32]);
        let ring_old = KeyRing::new(&old, &[]);
        let mut content = b"%PDF-1.4 carte d'identite".to_vec();
        let (kid, nonce) = ring_old.seal("doc-1", &mut content).unwrap();
        assert!(!content.windows(5).any(|w| w == b"carte"));
        // After rotation, the old key still opens what it sealed.
        let ring = KeyRing::new(&new, &[old]);
        let mut copy = content.clone();
        ring.open("doc-1", &kid, &nonce, &mut copy).unwrap();
        assert_eq!(copy, b"%PDF-1.4 carte d'identite");
        let mut wrong_id = content.clone();
        assert!(ring.open("doc-2", &kid, &nonce, &mut wrong_id).is_err());
        let mut tampered = content.clone();
        tampered[0] ^= 1;
        assert!(ring.open("doc-1", &kid, &nonce, &mut tampered).is_err());
        assert!(KeyRing::new(&new, &[])
            .open("doc-1", &kid, &nonce, &mut content)
            .is_err());
    }
}
