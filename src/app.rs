//! Builds the service from its settings: used by `guichet serve` and by the
//! tests, which bind port 0 and get the real thing.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::SwaggerUi;

use crate::clock::Clock;
use crate::config::Settings;
use crate::consent::{ConsentService, ConsentStore, ReceiptSigner};
use crate::db::{self, ConnectionManager, Db, DbError};
use crate::http;
use crate::mail::worker::{MailMetrics, Worker};
use crate::mail::Mail;
use crate::openapi;
use crate::ops::{Metrics, Monitor};
use crate::retention::scheduler::Scheduler;
use crate::retention::RetentionService;
use crate::rights::digest::Digest;
use crate::rights::documents::{missing_key, KeyRing};
use crate::rights::reminders::Reminders;
use crate::rights::service::RightsService;
use crate::rights::uploads::UploadBudget;
use crate::secrets::{Secrets, SecretsError};
use crate::shutdown::Background;
use crate::staff::password::Hasher;
use crate::staff::{LoginLimiter, StaffService};
use crate::tenants::{self, Tenants};

/// The running service's parts, held by `Application` until it stops (its
/// shutdown waits for them) and lent to the tests (`Application::state`).
/// No handler takes it: each takes the narrow service it needs.
pub struct Parts {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub clock: Clock,
    pub tenants: Tenants,
    pub secrets: Arc<Secrets>,
    pub metrics: Metrics,
    /// Staff accounts, sign-in and sessions (the console pages use it).
    pub staff: StaffService,
    /// What the consent's handlers take.
    pub consent: web::Data<ConsentService>,
    /// The consent store (`consent.store`).
    pub consents: ConsentStore,
    /// On SQLite, the lock held while this service runs on the file.
    pub sqlite_guard: Option<Arc<std::fs::File>>,
    pub mail: Arc<Mail>,
    pub mail_worker: Worker,
    pub digest: Digest,
    /// The referents' reminders, a chore of the mail worker.
    pub reminders: Reminders,
    /// What the rights requests' handlers take.
    pub rights: web::Data<RightsService>,
    /// The rights requests' upload memory budget (`rights.uploads`).
    pub uploads: UploadBudget,
    pub retention: Scheduler,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    AlreadyServing(#[from] db::migrate::SingleInstanceError),
    #[error("stored documents are sealed under key `{key_id}`, which the configured keys lack (secrets.document, secrets.document_retired, {file}): restore the secrets of this database")]
    MissingKey { key_id: String, file: String },
    #[error("{0}")]
    IdentityProvider(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
}

/// Opens one connection, applies pending migrations and synchronises the
/// tenants, under the start-up lock. A database that cannot be reached
/// fails here with a one-line error naming it.
pub fn prepare_database(settings: &Settings, clock: &Clock) -> Result<Tenants, DbError> {
    let mut conn = ConnectionManager::new(&settings.database)?.open()?;
    db::migrate::with_startup_lock(&mut conn, &settings.database, |conn| {
        let applied = db::migrate::run_pending(conn)?;
        if !applied.is_empty() {
            tracing::info!(versions = ?applied, "applied migrations");
        }
        let upgraded = crate::consent::upgrade::upgrade(conn, &settings.database)?;
        if upgraded != Default::default() {
            tracing::info!(
                files = upgraded.files,
                moved = upgraded.moved,
                "upgraded the consent files"
            );
        }
        // Without them, the coming months' consents go to the default
        // partition; the scheduler tries again.
        let rules = crate::consent::partitions::Partitioning::of(&settings.retention);
        match crate::consent::partitions::ensure_ahead(conn, rules, clock.now().naive_utc()) {
            Ok(created) if !created.is_empty() => {
                let months: Vec<String> = created.iter().map(ToString::to_string).collect();
                tracing::info!(
                    ?months,
                    "created the consent partitions of the coming months"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "consent partitions of the coming months not created")
            }
        }
        tenants::sync(conn, &settings.tenants, clock.now().naive_utc())
    })
}

/// Refuses a database holding files sealed under a document key the
/// secrets lack (restored without its secrets, or a key dropped from
/// configuration): naming the key beats failing on every download.
fn refuse_missing_keys(db: &Db, secrets: &Secrets, settings: &Settings) -> Result<(), StartError> {
    let ring = KeyRing::new(&secrets.document, &secrets.document_retired);
    let mut conn = db.pool().get().map_err(DbError::from)?;
    match missing_key(&mut conn, &ring).map_err(DbError::from)? {
        None => Ok(()),
        Some(key_id) => Err(StartError::MissingKey {
            key_id,
            file: settings
                .storage
                .data_dir
                .join("secrets.toml")
                .display()
                .to_string(),
        }),
    }
}

/// Extra routes a caller may add (tests use it for routes that misbehave
/// on purpose).
pub type Configure = fn(&mut web::ServiceConfig);

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<Parts>,
    background: Background,
    finish: Finish,
}

/// What the service waits for when it ends, or when it is dropped without
/// being run to its end (a test's), each within `timeout`: the consent
/// store's threads, then the HTTP workers letting go of the state, so that
/// no thread is left using the database once the service is gone.
struct Finish {
    consents: ConsentStore,
    state: Option<web::Data<Parts>>,
    timeout: Duration,
}

impl Drop for Finish {
    fn drop(&mut self) {
        if !self.consents.join(self.timeout) {
            tracing::warn!("stopped before the consent threads had finished");
        }
        if let Some(state) = self.state.take() {
            let deadline = std::time::Instant::now() + self.timeout;
            while Arc::strong_count(&state) > 1 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

impl Application {
    pub fn build(settings: Settings, clock: Clock) -> Result<Self, StartError> {
        Self::build_with(settings, clock, |_| {})
    }

    pub fn build_with(
        settings: Settings,
        clock: Clock,
        extra: Configure,
    ) -> Result<Self, StartError> {
        // Logos are read once, here: a bad one stops the start before anything
        // is written.
        let themes = tenants::theme::load(&settings.tenants, settings.limits.max_logo_bytes)?;
        let secrets = Secrets::load(&settings.secrets, &settings.storage.data_dir, &settings.env)?;
        let providers = web::Data::new(
            crate::oidc::providers::Providers::of(&settings, secrets.jwt.clone())
                .map_err(StartError::IdentityProvider)?,
        );
        // Before anything touches the file: a second service on it is
        // refused at once, rather than meeting the first one's migrations.
        let sqlite_guard = db::migrate::single_instance(&settings.database)?.map(Arc::new);
        let tenants = prepare_database(&settings, &clock)?.with_themes(&themes);
        let db = Db::new(&settings.database)?;
        refuse_missing_keys(&db, &secrets, &settings)?;
        let bind = settings.bind_addr()?;
        let listener = TcpListener::bind(bind).map_err(|source| StartError::Bind {
            addr: bind.to_string(),
            source,
        })?;
        let port = listener.local_addr().map_err(|source| StartError::Bind {
            addr: bind.to_string(),
            source,
        })?;
        if !settings.env.is_production() {
            if let Some(why) = public_url_mismatch(&settings.server.public_url, port) {
                tracing::warn!(
                    public_url = %settings.server.public_url,
                    listening = %port,
                    "server.public_url {why}: the links in e-mails and receipts will not reach this instance; set server.public_url"
                );
            }
        }
        let workers = settings.worker_count();
        let shutdown = settings.server.shutdown_timeout_secs;
        let request_timeout = Duration::from_secs(settings.server.client_request_timeout_secs);
        let receipts = ReceiptSigner::new(&secrets.receipt);
        let mail = Arc::new(Mail::new(&settings).map_err(crate::config::ConfigError)?);
        let metrics = Metrics::new();
        let digest = Digest {
            db: db.clone(),
            mail: mail.clone(),
            tenants: tenants.clone(),
            public_url: settings.server.public_url.clone(),
            clock: clock.clone(),
        };
        let reminders = Reminders {
            db: db.clone(),
            mail: mail.clone(),
            tenants: tenants.clone(),
            public_url: settings.server.public_url.clone(),
            timezone: settings.requests.tz(),
            clock: clock.clone(),
        };
        let consents = ConsentStore::serve(db.clone(), &settings.database, &settings.consent);
        let _ = metrics
            .registry()
            .register(Box::new(consents.cache_hits().clone()));
        let recorded = crate::consent::recorded_counter();
        let _ = metrics.registry().register(Box::new(recorded.clone()));
        let mail_worker = Worker {
            db: db.clone(),
            mail: mail.clone(),
            clock: clock.clone(),
            metrics: MailMetrics::register(metrics.registry()),
            chores: vec![
                digest.clone().chore(),
                reminders.clone().chore(),
                crate::consent::idempotency::chore(db.clone(), clock.clone()),
            ],
        };
        let mut background = Background::default();
        if settings.mail.worker {
            background.add(mail_worker.clone().spawn(background.stop().clone()));
        }
        let retention = Scheduler {
            db: db.clone(),
            database: settings.database.clone(),
            settings: settings.retention.clone(),
            tenants: tenants.clone(),
            clock: clock.clone(),
            consents: consents.clone(),
        };
        if settings.retention.scheduler {
            background.add(retention.clone().spawn(background.stop().clone()));
        }
        let rights = web::Data::new(RightsService::new(
            &settings,
            &secrets,
            db.clone(),
            clock.clone(),
            tenants.clone(),
            mail.clone(),
            consents.clone(),
        ));
        let consent = web::Data::new(ConsentService {
            store: consents.clone(),
            db: db.clone(),
            policies: crate::consent::Policies::of(&tenants),
            tenants: tenants.clone(),
            clock: clock.clone(),
            receipts,
            settings: settings.consent.clone(),
            server: settings.server.clone(),
            pseudonym: secrets.pseudonym.clone(),
            recorded,
        });
        let staff = StaffService {
            db: db.clone(),
            clock: clock.clone(),
            tenants: tenants.clone(),
            secrets: Arc::new(secrets.clone()),
            auth: settings.auth.clone(),
            server: settings.server.clone(),
            limits: settings.limits.clone(),
            hasher: Hasher::new(&settings.auth),
            login_limiter: LoginLimiter::new(settings.auth.login_per_ip_per_minute),
            mail: mail.clone(),
        };
        let state = web::Data::new(Parts {
            settings: Arc::new(settings.clone()),
            db: db.clone(),
            clock: clock.clone(),
            tenants,
            secrets: Arc::new(secrets.clone()),
            metrics,
            mail,
            mail_worker,
            digest,
            reminders,
            uploads: rights.uploads.clone(),
            rights: rights.clone(),
            consent: consent.clone(),
            consents: consents.clone(),
            sqlite_guard,
            staff: staff.clone(),
            retention,
        });
        let annotated = openapi::annotated();
        let allowed = openapi::Allowed::new(&annotated);
        let document = openapi::document(&annotated, &state.settings);
        let staff = web::Data::new(staff);
        let body_limits = web::Data::new(http::BodyLimits::new(&settings.server, &settings.limits));
        let metrics = web::Data::new(state.metrics.clone());
        let uploads = state.uploads.clone();
        let monitor = web::Data::new(Monitor::new(
            db.clone(),
            state.metrics.clone(),
            &settings.database,
            move || uploads.in_use(),
            read_signals(state.tenants.clone(), clock.clone()),
        ));
        let retention_runs = web::Data::new(RetentionService {
            db: db.clone(),
            tenants: state.tenants.clone(),
            limits: settings.limits.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(consent.clone())
                .app_data(rights.clone())
                .app_data(staff.clone())
                .app_data(body_limits.clone())
                .app_data(metrics.clone())
                .app_data(monitor.clone())
                .app_data(retention_runs.clone())
                .app_data(providers.clone())
                // Pages first: a tracking link opened in a browser meets
                // its page before the API's JSON at the same address.
                .configure(crate::pages::routes)
                .into_utoipa_app()
                .configure(openapi::routes)
                .into_app()
                .configure(routes)
                .configure(extra)
                .service(
                    SwaggerUi::new("/docs/{_:.*}")
                        .external_url_unchecked("/openapi.json", document.clone()),
                )
                .default_service(allowed.clone().default_service())
                .wrap(from_fn(http::bound_body))
                .wrap(from_fn(http::catch_panic))
                .wrap(from_fn(http::problem_fallback))
                .wrap(from_fn(http::observe))
        })
        .workers(workers)
        .shutdown_timeout(shutdown)
        .client_request_timeout(request_timeout)
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: bind.to_string(),
            source,
        })?
        .run();
        tracing::info!(
            addr = %port,
            database = %state.settings.database.describe(),
            tenants = state.tenants.len(),
            "listening"
        );
        Ok(Self {
            port: port.port(),
            server,
            background,
            finish: Finish {
                consents,
                state: Some(state.clone()),
                timeout: Duration::from_secs(shutdown),
            },
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<Parts> {
        self.state.clone()
    }

    /// Stops the server from elsewhere (a test restarting the service with
    /// another configuration on the same database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGTERM, SIGINT), then lets the
    /// background threads finish their piece of work, within
    /// `server.shutdown_timeout_secs`.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Dropped unfinished, in the reverse order: the server, then what
        // waits for it.
        let Self {
            finish,
            background,
            state,
            server,
            ..
        } = self;
        let served = server.await;
        let timeout = Duration::from_secs(state.settings.server.shutdown_timeout_secs);
        drop(state);
        let left = actix_web::rt::task::spawn_blocking(move || {
            let left = background.finish(timeout);
            drop(finish);
            left
        })
        .await
        .unwrap_or(0);
        if left > 0 {
            tracing::warn!(
                threads = left,
                "stopped before every background thread had finished"
            );
        } else {
            tracing::info!("stopped");
        }
        served
    }
}

/// The routes outside the API and its pages.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/docs").get(|| async {
        HttpResponse::PermanentRedirect()
            .insert_header(("location", "/docs/"))
            .finish()
    }));
}

/// What `/metrics` tells of the capabilities: the outbox's backlog, the
/// overdue requests per tenant, the last completed sweep.
fn read_signals(tenants: Tenants, clock: Clock) -> crate::ops::ReadSignals {
    Arc::new(move |conn| {
        let ids: Vec<String> = tenants.iter().map(|t| t.id.clone()).collect();
        let now = clock.now().naive_utc();
        let overdue = crate::rights::counts::overdue_by_tenant(conn, &ids, now)?
            .into_iter()
            .filter_map(|(id, n)| Some((tenants.slug_of(Some(&id))?, n)))
            .collect();
        Ok(crate::ops::Signals {
            outbox_pending: crate::mail::outbox::count_by_status(
                conn,
                crate::mail::outbox::Status::Pending,
            )?,
            overdue,
            last_sweep_success: crate::retention::runs::last_success(conn)?
                .map(|t| t.and_utc().timestamp()),
        })
    })
}

/// Why `public_url` cannot be this instance's address, when it names this
/// machine (a loopback host) on another port than the one listened on; a
/// public name is left alone (a proxy stands in front).
fn public_url_mismatch(public_url: &str, listening: std::net::SocketAddr) -> Option<&'static str> {
    let url = url::Url::parse(public_url).ok()?;
    let local = match url.host()? {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback() || ip.is_unspecified(),
        url::Host::Ipv6(ip) => ip.is_loopback() || ip.is_unspecified(),
    };
    let port = url.port_or_known_default()?;
    (local && port != listening.port()).then_some("names this machine on another port")
}

#[cfg(test)]
mod tests {
    use super::public_url_mismatch;

    #[test]
    fn a_local_public_url_on_another_port_is_told() {
        let at = |p: u16| std::net::SocketAddr::from(([127, 0, 0, 1], p));
        assert!(public_url_mismatch("http://127.0.0.1:8080", at(9000)).is_some());
        assert!(public_url_mismatch("http://localhost:8080", at(9000)).is_some());
        assert!(public_url_mismatch("http://127.0.0.1:8080", at(8080)).is_none());
        assert!(public_url_mismatch("https://guichet.ville-sevres.fr", at(8080)).is_none());
    }
}
