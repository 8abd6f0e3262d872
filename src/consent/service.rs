//! What the consent's handlers take: the store and the few things beside
//! it a consent needs, built once by `app.rs`.

use crate::clock::Clock;
use crate::config::{ConsentSettings, ServerSettings};
use crate::db::Db;
use crate::secrets::Key;
use crate::tenants::Tenants;

use super::views::Policies;
use super::{ConsentStore, ReceiptSigner};

pub struct ConsentService {
    pub store: ConsentStore,
    /// The main database: the policies served, the idempotency keys.
    pub db: Db,
    pub tenants: Tenants,
    /// Each tenant's policy as the banners read it, written once.
    pub policies: Policies,
    pub clock: Clock,
    /// Signs the receipts; publishes their key.
    pub receipts: ReceiptSigner,
    pub settings: ConsentSettings,
    /// The public address (the receipts' issuer) and the trusted proxies
    /// (client addresses).
    pub server: ServerSettings,
    /// The key of the clients' network pseudonyms.
    pub pseudonym: Key,
    /// Consents recorded by this instance (`guichet_consents_recorded_total`).
    pub recorded: prometheus::IntCounter,
}

/// The counter of consents recorded, to register in the service's metrics.
pub fn recorded_counter() -> prometheus::IntCounter {
    prometheus::IntCounter::new(
        "consents_recorded_total",
        "Consents recorded (choices given, refusals included) since the instance started.",
    )
    .expect("a valid metric")
}
