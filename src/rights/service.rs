//! What the rights requests need from the rest of the service, in one
//! narrow struct that `app.rs` builds and every handler of this capability
//! takes (`web::Data<RightsService>`).

use std::sync::Arc;

use super::documents::KeyRing;
use super::error::RightsError;
use super::limits::SubmissionLimiter;
use super::uploads::UploadBudget;
use crate::clock::Clock;
use crate::config::{LimitSettings, Periods, RequestSettings, ServerSettings, Settings};
use crate::consent::ConsentStore;
use crate::db::{Db, DbConnection};
use crate::mail::Mail;
use crate::secrets::{Key, Secrets};
use crate::tenants::Tenants;

/// The settings rights requests read.
#[derive(Debug, Clone)]
pub struct RightsSettings {
    pub requests: RequestSettings,
    /// The client's address (the limits per address) and the public URL
    /// (the links of the letters).
    pub server: ServerSettings,
    /// JSON bodies and pages of lists.
    pub limits: LimitSettings,
    /// `consent.history_max`: the events an export reads per banner
    /// identifier, as the banner's history route does.
    pub consent_history_max: i64,
    /// The retention periods, which the letters and pages state (each
    /// tenant's own: `periods_of`).
    pub periods: Periods,
}

impl RightsSettings {
    /// A tenant's retention periods: the platform's, with its overrides.
    pub fn periods_of(&self, tenant: &crate::tenants::Tenant) -> Periods {
        self.periods.with(&tenant.config.retention)
    }
}

/// The rights requests' share of the service: cheap to clone.
#[derive(Clone)]
pub struct RightsService {
    pub db: Db,
    pub clock: Clock,
    pub tenants: Tenants,
    pub settings: Arc<RightsSettings>,
    /// The pseudonym key, then each retired one (`privacy::email_pseudonyms`).
    pub pseudonym_keys: Arc<[Key]>,
    /// The keys identity documents are sealed with.
    pub documents: Arc<KeyRing>,
    pub submission_limits: SubmissionLimiter,
    pub uploads: UploadBudget,
    /// The outbox the letters of a request's life are queued in.
    pub mail: Arc<Mail>,
    /// The consent events, which an export reads for the banner
    /// identifiers a request names.
    pub consents: ConsentStore,
}

impl RightsService {
    pub fn new(
        settings: &Settings,
        secrets: &Secrets,
        db: Db,
        clock: Clock,
        tenants: Tenants,
        mail: Arc<Mail>,
        consents: ConsentStore,
    ) -> Self {
        let requests = &settings.requests;
        Self {
            db,
            clock,
            tenants,
            settings: Arc::new(RightsSettings {
                requests: requests.clone(),
                server: settings.server.clone(),
                limits: settings.limits.clone(),
                consent_history_max: settings.consent.history_max,
                periods: settings.retention.periods,
            }),
            pseudonym_keys: secrets.pseudonym_keys().cloned().collect(),
            documents: Arc::new(KeyRing::new(&secrets.document, &secrets.document_retired)),
            submission_limits: SubmissionLimiter::new(
                requests.submissions_per_ip_per_hour,
                requests.submissions_per_email_per_day,
                requests.submission_limit_keys,
            ),
            uploads: UploadBudget::new(requests.upload_memory_bytes),
            mail,
            consents,
        }
    }

    /// Runs `f` on a pooled connection off the async executor
    /// (`Db::run_as`), its errors the rights' own.
    pub async fn run<T, F>(&self, f: F) -> Result<T, RightsError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, RightsError> + Send + 'static,
        T: Send + 'static,
    {
        self.db.run_as(f).await
    }
}
