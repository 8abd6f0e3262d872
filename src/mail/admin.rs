//! The outbox as operators see it (`GET /v1/admin/mail`, served by the
//! staff's admin API): dead messages first among their worries, recipients
//! masked.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::outbox::{self, OutboxRow, Status};
use crate::db::DbConnection;
use crate::error::FieldError;
use crate::tenants::Tenants;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MailQuery {
    /// `pending`, `sent` or `dead`; every message when absent.
    #[param(pattern = "^(pending|sent|dead)$")]
    pub status: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000, default = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100, default = 50)]
    pub per_page: Option<u32>,
}

impl MailQuery {
    /// The status asked for, if any; a word that is none is refused.
    pub fn status(&self) -> Result<Option<Status>, FieldError> {
        match &self.status {
            None => Ok(None),
            Some(s) => Status::parse(s).map(Some).ok_or_else(|| FieldError {
                field: "status".into(),
                message: "must be pending, sent or dead".into(),
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailItem {
    pub id: String,
    pub message_id: String,
    pub template: String,
    pub tenant: Option<String>,
    /// The recipient, masked (`j***@example.fr`).
    pub recipient: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

impl MailItem {
    fn new(tenants: &Tenants, r: OutboxRow) -> Self {
        Self {
            tenant: tenants.slug_of(r.tenant_id.as_deref()),
            recipient: mask(&r.recipient),
            id: r.id,
            message_id: r.message_id,
            template: r.template,
            status: r.status,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at.and_utc(),
            last_error: r.last_error,
            created_at: r.created_at.and_utc(),
            sent_at: r.sent_at.map(|t| t.and_utc()),
        }
    }
}

/// A page of messages of one status (all when `None`), newest first, and
/// how many there are in all.
pub fn page(
    conn: &mut DbConnection,
    tenants: &Tenants,
    status: Option<Status>,
    offset: i64,
    limit: i64,
) -> diesel::QueryResult<(Vec<MailItem>, i64)> {
    let (rows, total) = outbox::list(conn, status, offset, limit)?;
    let items = rows
        .into_iter()
        .map(|r| MailItem::new(tenants, r))
        .collect();
    Ok((items, total))
}

#[cfg(test)]
mod tests {
    #[test]
    fn recipients_are_masked() {
        assert_eq!(super::mask("jean.dupont@example.fr"), "j***@example.fr");
        assert_eq!(super::mask("nobody"), "***");
    }
}
