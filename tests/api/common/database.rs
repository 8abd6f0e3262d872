//! A database of its own for each test: a SQLite file, or a PostgreSQL
//! database when `TEST_DATABASE_URL` names a server.

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};

/// A database of its own for one test; a PostgreSQL one is dropped after.
pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
}

impl TestDatabase {
    pub fn is_postgres(&self) -> bool {
        self.admin_url.is_some()
    }

    /// A new database: a file in `dir`, or a fresh PostgreSQL database on
    /// the server `TEST_DATABASE_URL` names.
    pub fn create(dir: &std::path::Path) -> Self {
        match std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            None => Self::sqlite(dir),
            Some(admin_url) => Self::postgres(&admin_url),
        }
    }

    /// A new SQLite file in `dir`.
    pub fn sqlite(dir: &std::path::Path) -> Self {
        Self {
            url: format!("sqlite://{}", dir.join("guichet.db").display()),
            admin_url: None,
            name: None,
        }
    }

    /// A fresh database on the PostgreSQL server `admin_url` names.
    pub fn postgres(admin_url: &str) -> Self {
        let name = format!("guichet_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn =
            PgConnection::establish(admin_url).expect("the PostgreSQL server accepts connections");
        conn.batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .expect("create test database");
        let mut url = url::Url::parse(admin_url).expect("the server's URL is a URL");
        url.set_path(&name);
        Self {
            url: url.to_string(),
            admin_url: Some(admin_url.to_owned()),
            name: Some(name),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name) {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ =
                    conn.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

/// Where the migration whose name ends with `suffix` stands among `all`.
fn position<DB: diesel::backend::Backend>(
    all: &[Box<dyn diesel::migration::Migration<DB>>],
    suffix: &str,
) -> usize {
    all.iter()
        .position(|m| m.name().to_string().ends_with(suffix))
        .unwrap_or_else(|| panic!("no migration named …{suffix}"))
}

/// Brings a new PostgreSQL database to the release before a migration:
/// every migration before the one whose name ends with `suffix`. Answers
/// how many migrations are left to run from there.
pub fn postgres_before(conn: &mut guichet::db::DbConnection, suffix: &str) -> usize {
    use diesel::migration::MigrationSource;
    use diesel_migrations::MigrationHarness;

    let all =
        MigrationSource::<diesel::pg::Pg>::migrations(&guichet::db::migrate::POSTGRES).unwrap();
    let this = position(&all, suffix);
    let guichet::db::DbConnection::Pg(pg) = conn else {
        panic!("a PostgreSQL connection")
    };
    diesel::migration::MigrationConnection::setup(pg).unwrap();
    pg.run_migrations(&all[..this]).unwrap();
    all.len() - this
}

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    n: i32,
}

/// The PostgreSQL backend serving a connection.
pub fn backend_pid(conn: &mut guichet::db::DbConnection) -> i32 {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT pg_backend_pid() AS n")
        .get_result::<Number>(conn)
        .unwrap()
        .n
}

/// Returns once the PostgreSQL backend `pid` waits on a lock (another
/// transaction's row), as `conn` sees it; fails after 30 s, saying `what`
/// never happened.
pub fn await_lock_wait(conn: &mut guichet::db::DbConnection, pid: i32, what: &str) {
    use diesel::RunQueryDsl;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let waiting = diesel::sql_query(
            "SELECT count(*)::integer AS n FROM pg_stat_activity \
             WHERE pid = $1 AND wait_event_type = 'Lock'",
        )
        .bind::<diesel::sql_types::Integer, _>(pid)
        .get_result::<Number>(conn)
        .unwrap()
        .n;
        if waiting == 1 {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::yield_now();
    }
}

/// Reverts the migrations of a database down to, and with, the one whose
/// name ends with `suffix`.
pub fn revert_through(conn: &mut guichet::db::DbConnection, suffix: &str) {
    use guichet::db::migrate::{POSTGRES, SQLITE};
    use guichet::db::DbConnection;
    match conn {
        DbConnection::Pg(c) => revert_on(c, || POSTGRES, suffix),
        DbConnection::Sqlite(c) => revert_on(c, || SQLITE, suffix),
    }
}

fn revert_on<DB, C>(
    conn: &mut C,
    source: fn() -> diesel_migrations::EmbeddedMigrations,
    suffix: &str,
) where
    DB: diesel::backend::Backend,
    C: diesel_migrations::MigrationHarness<DB>,
    diesel_migrations::EmbeddedMigrations: diesel::migration::MigrationSource<DB>,
{
    use diesel::migration::MigrationSource;
    let all = MigrationSource::<DB>::migrations(&source()).unwrap();
    let version = all[position(&all, suffix)].name().version().to_string();
    while conn.revert_last_migration(source()).unwrap().to_string() != version {}
}

/// Writes consent events as the releases before the compact rows did (the
/// former layout of `consent_events`), with their daily counts.
pub fn insert_former(
    conn: &mut guichet::db::DbConnection,
    rows: &[guichet::consent::ConsentEvent],
) {
    use diesel::RunQueryDsl;
    use guichet::db::schema::legacy_consent_events as former;
    let guichet::db::DbConnection::Pg(pg) = conn else {
        panic!("a PostgreSQL connection")
    };
    diesel::insert_into(former::table)
        .values(rows)
        .execute(pg)
        .unwrap();
    let mut counts: std::collections::BTreeMap<(String, String, String), (i64, i64)> =
        Default::default();
    for row in rows {
        for (purpose, accepted) in row.choices() {
            let day = row.at.date().to_string();
            let t = counts
                .entry((row.tenant_id.clone(), day, purpose))
                .or_default();
            if accepted {
                t.0 += 1
            } else {
                t.1 += 1
            }
        }
    }
    let counts: Vec<_> = counts
        .into_iter()
        .map(|((tenant_id, day, purpose_id), (accepted, refused))| {
            guichet::consent::queries::DailyCount {
                tenant_id,
                day,
                purpose_id,
                accepted,
                refused,
                withdrawn: 0,
            }
        })
        .collect();
    guichet::consent::queries::add_daily_counts(conn, &counts).unwrap();
}
