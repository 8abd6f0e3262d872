//! What serde cannot check in the settings: addresses, URLs, ranges,
//! tenants, retention periods, and the production rules. Each refusal
//! names the key at fault.

use super::{ConfigError, MailTransportKind, Settings, TenantConfig};

impl Settings {
    /// Checks what serde cannot: addresses, URLs, ranges, tenants, and the
    /// production rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        url::Url::parse(&self.server.public_url)
            .map_err(|e| ConfigError::key("server.public_url", format!("is not a URL: {e}")))?;
        self.database
            .backend()
            .map_err(|e| ConfigError::key("database.url", e))?;
        if self.database.pool_size == 0 {
            return Err(ConfigError::key("database.pool_size", "must be at least 1"));
        }
        if self.database.acquire_timeout_secs == 0 {
            return Err(ConfigError::key(
                "database.acquire_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.limits.json_body_bytes < 1024 {
            return Err(ConfigError::key(
                "limits.json_body_bytes",
                "must be at least 1024",
            ));
        }
        if !(1..=100).contains(&self.limits.max_page_size) {
            return Err(ConfigError::key(
                "limits.max_page_size",
                "must be between 1 and 100",
            ));
        }
        if self.limits.max_page == 0 {
            return Err(ConfigError::key("limits.max_page", "must be at least 1"));
        }
        if !(1024..=16 << 20).contains(&self.limits.max_logo_bytes) {
            return Err(ConfigError::key(
                "limits.max_logo_bytes",
                "must be between 1024 and 16777216",
            ));
        }
        let auth = &self.auth;
        if !(60..=86_400).contains(&auth.token_lifetime_secs) {
            return Err(ConfigError::key(
                "auth.token_lifetime_secs",
                "must be between 60 and 86400",
            ));
        }
        if auth.lockout_threshold == 0 || auth.lockout_minutes == 0 {
            return Err(ConfigError::key(
                "auth.lockout_threshold",
                "and auth.lockout_minutes must be at least 1",
            ));
        }
        if auth.lockout_window_minutes == 0
            || auth.unlock_link_minutes == 0
            || auth.unlock_link_attempts == 0
            || auth.sweep_batch == 0
        {
            return Err(ConfigError::key(
                "auth.lockout_window_minutes",
                "auth.unlock_link_minutes, auth.unlock_link_attempts and auth.sweep_batch must be at least 1",
            ));
        }
        if auth.login_per_ip_per_minute == 0 {
            return Err(ConfigError::key(
                "auth.login_per_ip_per_minute",
                "must be at least 1",
            ));
        }
        if auth.min_password_length < 12 {
            return Err(ConfigError::key(
                "auth.min_password_length",
                "must be at least 12",
            ));
        }
        let server = &self.server;
        if server.body_idle_timeout_secs == 0
            || server.body_idle_timeout_secs > server.body_timeout_secs
        {
            return Err(ConfigError::key(
                "server.body_idle_timeout_secs",
                "must be at least 1 and at most server.body_timeout_secs",
            ));
        }
        let r = &self.requests;
        if !(1 << 20..u32::MAX as usize).contains(&r.upload_memory_bytes) {
            return Err(ConfigError::key(
                "requests.upload_memory_bytes",
                "must be at least 1 MiB and less than 4 GiB",
            ));
        }
        if r.max_document_bytes < 1024 || r.max_documents == 0 || r.max_text_bytes < 1024 {
            return Err(ConfigError::key(
                "requests",
                "max_document_bytes and max_text_bytes must be at least 1024, max_documents at least 1",
            ));
        }
        if !(1..=36_600).contains(&r.report_max_days) {
            return Err(ConfigError::key(
                "requests.report_max_days",
                "must be between 1 and 36600",
            ));
        }
        if !(1..=100).contains(&r.max_subject_ids) {
            return Err(ConfigError::key(
                "requests.max_subject_ids",
                "must be between 1 and 100",
            ));
        }
        if r.max_attachments == 0 || r.max_attachments > 100 {
            return Err(ConfigError::key(
                "requests.max_attachments",
                "must be between 1 and 100",
            ));
        }
        if r.max_attachment_bytes < 1024 || r.max_attachment_bytes > r.upload_memory_bytes {
            return Err(ConfigError::key(
                "requests.max_attachment_bytes",
                "must be at least 1024 and at most requests.upload_memory_bytes",
            ));
        }
        if !(100..=1_000_000).contains(&r.message_max_chars) {
            return Err(ConfigError::key(
                "requests.message_max_chars",
                "must be between 100 and 1000000",
            ));
        }
        if !(1..=366).contains(&r.assignment_max_days) {
            return Err(ConfigError::key(
                "requests.assignment_max_days",
                "must be between 1 and 366",
            ));
        }
        if r.submissions_per_ip_per_hour == 0 || r.submissions_per_email_per_day == 0 {
            return Err(ConfigError::key(
                "requests",
                "submission rate limits must be at least 1",
            ));
        }
        if r.submission_limit_keys == 0 {
            return Err(ConfigError::key(
                "requests.submission_limit_keys",
                "must be at least 1",
            ));
        }
        if r.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::key(
                "requests.timezone",
                "is not an IANA time zone such as Europe/Paris",
            ));
        }
        if let Some(oidc) = &auth.oidc {
            oidc.validate()
                .map_err(|(field, why)| ConfigError::key(&format!("auth.oidc.{field}"), why))?;
        }
        if !auth.password_sign_in && auth.oidc.is_none() {
            return Err(ConfigError::key(
                "auth.password_sign_in",
                "may be false only with [auth.oidc]: staff would have no way to sign in",
            ));
        }
        let consent = &self.consent;
        if consent.write_queue == 0 || consent.max_batch == 0 || consent.max_batch > 1000 {
            return Err(ConfigError::key(
                "consent.max_batch",
                "must be between 1 and 1000, and consent.write_queue at least 1",
            ));
        }
        if consent.history_max < 1 || consent.export_page_rows < 1 || consent.stats_max_days < 1 {
            return Err(ConfigError::key(
                "consent",
                "history_max, export_page_rows and stats_max_days must be at least 1",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::key("log.level", format!("is not a log filter: {e}")))?;
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::key(
                "mail.from",
                "must be a mailbox like `Guichet <no-reply@example.org>`",
            ));
        }
        if self.mail.batch_size < 1 || self.mail.lease_secs < 10 || self.mail.retry_base_secs < 1 {
            return Err(ConfigError::key(
                "mail",
                "batch_size must be at least 1, lease_secs at least 10, retry_base_secs at least 1",
            ));
        }
        if chrono::NaiveTime::parse_from_str(&self.mail.digest_time, "%H:%M").is_err() {
            return Err(ConfigError::key(
                "mail.digest_time",
                "must be a time like 08:00",
            ));
        }
        if self.mail.digest_timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::key(
                "mail.digest_timezone",
                "is not an IANA time zone such as Europe/Paris",
            ));
        }
        if !(200..=60_000).contains(&self.consent.alone_lease_ms) {
            return Err(ConfigError::key(
                "consent.alone_lease_ms",
                "must be between 200 and 60000",
            ));
        }
        if !(1..=24).contains(&self.retention.partition_months_ahead) {
            return Err(ConfigError::key(
                "retention.partition_months_ahead",
                "must be between 1 and 24",
            ));
        }
        if !(100..=60_000).contains(&self.retention.partition_lock_timeout_ms) {
            return Err(ConfigError::key(
                "retention.partition_lock_timeout_ms",
                "must be between 100 and 60000",
            ));
        }
        if !(1..=60).contains(&self.mail.digest_window_days) {
            return Err(ConfigError::key(
                "mail.digest_window_days",
                "must be between 1 and 60",
            ));
        }
        if self.mail.transport == MailTransportKind::Smtp && self.mail.smtp.host.trim().is_empty() {
            return Err(ConfigError::key(
                "mail.smtp.host",
                "must be set when mail.transport = \"smtp\"",
            ));
        }
        // Production says why below, after its other rules.
        if self.tenants.is_empty() && !self.env.is_production() {
            return Err(ConfigError::key(
                "tenants",
                "must declare at least one tenant",
            ));
        }
        self.retention
            .check()
            .map_err(|(key, why)| ConfigError::key(&key, why))?;
        for (slug, tenant) in &self.tenants {
            tenant.validate(slug).map_err(|(field, why)| {
                ConfigError::key(&format!("tenants.{slug}.{field}"), why)
            })?;
            if let Some(fc) = &tenant.franceconnect {
                fc.validate().map_err(|(field, why)| {
                    ConfigError::key(&format!("tenants.{slug}.franceconnect.{field}"), why)
                })?;
            }
            self.retention
                .periods
                .with(&tenant.retention)
                .check(tenant.consent.validity_months)
                .map_err(|(field, why)| {
                    ConfigError::key(&format!("tenants.{slug}.retention.{field}"), why)
                })?;
        }
        if self.env.is_production() && self.mail.transport == MailTransportKind::File {
            return Err(ConfigError::key(
                "mail.transport",
                "is \"file\": production refuses to start without real mail (set GUICHET__MAIL__TRANSPORT=smtp)",
            ));
        }
        if self.env.is_production() {
            self.no_demo_tenant()?;
        }
        Ok(())
    }

    /// Production serves the site's own tenants: at least one, and none of
    /// the demo's, nor any that would mail a demo tenant's DPO (the
    /// authorities' real addresses).
    fn no_demo_tenant(&self) -> Result<(), ConfigError> {
        if self.tenants.is_empty() {
            return Err(ConfigError::key(
                "tenants",
                "declares no tenant: production serves only a site's own (the demo tenants are a demo; declare [tenants.SLUG] as the README says)",
            ));
        }
        let demo = demo_tenants();
        for (slug, tenant) in &self.tenants {
            let mails_a_demo_dpo = demo
                .values()
                .any(|d| d.dpo_email.eq_ignore_ascii_case(&tenant.dpo_email));
            if mails_a_demo_dpo {
                return Err(ConfigError::key(
                    &format!("tenants.{slug}"),
                    "is a demo tenant (its DPO address is a demo one): production refuses to start with it; declare the authority's own tenant",
                ));
            }
        }
        Ok(())
    }
}

/// The demo tenants, as declared in `config/demo.toml`.
fn demo_tenants() -> std::collections::BTreeMap<String, TenantConfig> {
    config::Config::builder()
        .add_source(config::File::from_str(
            super::DEMO_TOML,
            config::FileFormat::Toml,
        ))
        .build()
        .and_then(|demo| demo.get("tenants"))
        .unwrap_or_default()
}
