//! Rights requests: the bounds of a submission and its documents.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSettings {
    /// Largest identity document, in bytes.
    pub max_document_bytes: usize,
    /// Most identity documents per submission or upload.
    pub max_documents: usize,
    /// Largest total of the text fields of a form, in bytes.
    pub max_text_bytes: usize,
    /// Longest `details`, in characters.
    pub details_max_chars: usize,
    /// Most banner identifiers (`subject_ids`) a submission may name.
    pub max_subject_ids: usize,
    /// Bytes of uploads (multipart forms) read into memory at once, all
    /// requests together; beyond, uploads answer 503 `uploads_busy`.
    pub upload_memory_bytes: usize,
    /// Submissions one client address may make per hour.
    pub submissions_per_ip_per_hour: u32,
    /// Submissions one e-mail address may make per day.
    pub submissions_per_email_per_day: u32,
    /// Keys (client addresses, e-mail addresses) each submission limit
    /// holds at most; beyond, while none is done with, submissions answer
    /// 503 `submissions_busy`.
    pub submission_limit_keys: usize,
    /// Time zone of the dates written to people (e-mails).
    pub timezone: String,
}

impl RequestSettings {
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Paris)
    }
}
