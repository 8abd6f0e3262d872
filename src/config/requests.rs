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
    /// The longest period, in days, a report of requests may cover.
    pub report_max_days: u32,
    /// Most attachments of one message of the DPO (or one closing note or
    /// rejection reason).
    pub max_attachments: usize,
    /// Largest attachment, in bytes.
    pub max_attachment_bytes: usize,
    /// Longest message of the DPO to the requester (also a closing note or
    /// a rejection's reason), in characters; a longer one is refused (422),
    /// never cut.
    pub message_max_chars: usize,
    /// How far ahead, in days, a referent's assignment may be due.
    pub assignment_max_days: u32,
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
