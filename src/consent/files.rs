//! On SQLite, consent events are kept beside the main file, in one file per
//! tenant and calendar month (UTC) of the event: `<database>-consents/
//! <tenant id>/<YYYY-MM>.<file id>.db`. A month whose every record is past
//! its period goes by deleting its file, whatever it holds: removing a
//! million records costs an unlink, not a million index updates, and the
//! consents being recorded meanwhile, in this month's file, never wait for
//! it (each file has its own write lock). Each file keeps the daily counts
//! of its events; a sweep adds them to the main file's before the file goes
//! (see `retention::consent_files`).
//!
//! Names are never reused: a month that receives events after its file was
//! retired (a clock moved by hand) gets a new file with a new id.
//!
//! (Just over 400 lines: the file set, its opening, creation and retirement
//! form one idea, the life of a month's file; split, each half would need
//! the other's invariants.)

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};
use diesel::SqliteConnection;

pub use super::months::{EventFile, Month};
use crate::config::DatabaseSettings;
use crate::db::{existing_file_uri, prepare_sqlite_file, write_transaction, DbConnection};

const SCHEMA: &str = concat!(include_str!("files.sql"), include_str!("file_events.sql"));

/// The version of `files.sql`, kept in each file's `user_version`; the
/// migrations step brings older files to it (`upgrade.rs`).
pub const VERSION: i32 = 3;

/// How long a listing of another process's changes may be trusted without
/// reading the folder again (changes made here are seen at once).
const LISTING_TTL: Duration = Duration::from_secs(1);

struct Listing {
    stamp: Option<SystemTime>,
    checked: Instant,
    files: Arc<Vec<EventFile>>,
}

struct Writer {
    file: EventFile,
    conn: DbConnection,
}

/// The month files of one SQLite database, as one store sees them: what it
/// writes, it reads at once; another process's changes within
/// `LISTING_TTL`.
pub struct ConsentFiles {
    /// Tells this store's read-only connections from another's on a thread.
    id: u64,
    root: PathBuf,
    busy_timeout_ms: u64,
    reader_busy_timeout_ms: u64,
    listings: Mutex<HashMap<String, Listing>>,
    /// Bumped whenever a file appears or goes: readers then reopen theirs.
    generation: AtomicU64,
    writers: Mutex<HashMap<(String, Month), Writer>>,
    /// Files found retired that are still there: never written again.
    retired: Mutex<HashSet<String>>,
}

/// A thread's read-only connections to the files of one store, and the
/// generation they were opened in.
type Readers = (u64, HashMap<PathBuf, DbConnection>);

thread_local! {
    /// Read-only connections of this thread, by store.
    static READERS: std::cell::RefCell<HashMap<u64, Readers>> =
        std::cell::RefCell::new(HashMap::new());
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn io_error(e: std::io::Error) -> Error {
    Error::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new(format!("consent files: {e}")),
    )
}

impl ConsentFiles {
    /// The files of a SQLite database; none on PostgreSQL. The store that
    /// holds them is the only one of its process on them.
    pub(crate) fn for_database(settings: &DatabaseSettings) -> Option<Self> {
        static IDS: AtomicU64 = AtomicU64::new(0);
        let path = settings.sqlite_path()?;
        let root = std::path::absolute(format!("{path}-consents")).ok()?;
        Some(Self {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            root,
            busy_timeout_ms: settings.sqlite_busy_timeout_ms,
            reader_busy_timeout_ms: settings.sqlite_reader_busy_timeout_ms,
            listings: Mutex::default(),
            generation: AtomicU64::new(0),
            writers: Mutex::default(),
            retired: Mutex::default(),
        })
    }

    fn tenant_dir(&self, tenant_id: &str) -> QueryResult<PathBuf> {
        let safe = !tenant_id.is_empty()
            && tenant_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !safe {
            return Err(Error::QueryBuilderError(
                format!("not a tenant id: {tenant_id:?}").into(),
            ));
        }
        Ok(self.root.join(tenant_id))
    }

    /// The tenants that have files.
    pub fn tenants(&self) -> QueryResult<Vec<String>> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error(e)),
        };
        let mut out: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// The tenant's files, by month then name.
    pub fn files(&self, tenant_id: &str) -> QueryResult<Arc<Vec<EventFile>>> {
        let dir = self.tenant_dir(tenant_id)?;
        let stamp = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        let mut listings = lock(&self.listings);
        if let Some(l) = listings.get(tenant_id) {
            if l.stamp == stamp && l.checked.elapsed() < LISTING_TTL {
                return Ok(l.files.clone());
            }
        }
        let mut files: Vec<EventFile> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|name| EventFile::parse(tenant_id, &dir, &name))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_error(e)),
        };
        files.sort_by(|a, b| (a.month, &a.name).cmp(&(b.month, &b.name)));
        let files = Arc::new(files);
        let changed = listings.get(tenant_id).is_none_or(|l| l.files != files);
        listings.insert(
            tenant_id.to_owned(),
            Listing {
                stamp,
                checked: Instant::now(),
                files: files.clone(),
            },
        );
        if changed {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        Ok(files)
    }

    fn changed(&self, tenant_id: &str) {
        lock(&self.listings).remove(tenant_id);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Runs `f` in a write transaction on the file of the tenant's month,
    /// created when there is none; never on a retired file.
    pub fn write<T>(
        &self,
        tenant_id: &str,
        month: Month,
        mut f: impl FnMut(&mut DbConnection) -> QueryResult<T>,
    ) -> QueryResult<T> {
        let key = (tenant_id.to_owned(), month);
        let mut writers = lock(&self.writers);
        loop {
            if !writers.contains_key(&key) {
                let writer = self.writer_for(tenant_id, month)?;
                writers.insert(key.clone(), writer);
            }
            let w = writers.get_mut(&key).expect("inserted above");
            let outcome = write_transaction(&mut w.conn, |c| {
                if is_retired(c)? {
                    return Ok(None);
                }
                f(c).map(Some)
            });
            match outcome {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {
                    let w = writers.remove(&key).expect("present");
                    lock(&self.retired).insert(w.file.name);
                }
                Err(e) => {
                    // The next write opens the file afresh.
                    writers.remove(&key);
                    return Err(e);
                }
            }
        }
    }

    fn writer_for(&self, tenant_id: &str, month: Month) -> QueryResult<Writer> {
        loop {
            let retired = lock(&self.retired).clone();
            let existing = self
                .files(tenant_id)?
                .iter()
                .rev()
                .find(|f| f.month == month && !retired.contains(&f.name))
                .cloned();
            let file = match existing {
                Some(f) => f,
                None => self.create(tenant_id, month)?,
            };
            match self.open(&file) {
                Ok(conn) => return Ok(Writer { file, conn }),
                // Removed by a sweep of another process since it was listed.
                Err(_) if !file.path.exists() => self.changed(tenant_id),
                Err(e) => return Err(e),
            }
        }
    }

    /// Creates a file for the month, complete before it appears under its
    /// name: readers never see it half made.
    fn create(&self, tenant_id: &str, month: Month) -> QueryResult<EventFile> {
        let dir = self.tenant_dir(tenant_id)?;
        private_dir(&dir).map_err(io_error)?;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{month}.{id}.db");
        let draft = dir.join(format!(".{name}.draft"));
        prepare_sqlite_file(&draft).map_err(io_error)?;
        {
            let mut conn = SqliteConnection::establish(&draft.to_string_lossy())
                .map_err(|e| io_error(std::io::Error::other(e.to_string())))?;
            conn.batch_execute(SCHEMA)?;
            conn.batch_execute(&format!("PRAGMA user_version = {VERSION}"))?;
            diesel::sql_query(
                "INSERT INTO consent_file (id, tenant_id, month, retired) VALUES (?, ?, ?, 0)",
            )
            .bind::<diesel::sql_types::Text, _>(&id)
            .bind::<diesel::sql_types::Text, _>(tenant_id)
            .bind::<diesel::sql_types::Text, _>(month.to_string())
            .execute(&mut conn)?;
        }
        let path = dir.join(&name);
        std::fs::rename(&draft, &path).map_err(io_error)?;
        sync_dir(&dir).map_err(io_error)?;
        self.changed(tenant_id);
        Ok(EventFile {
            tenant_id: tenant_id.to_owned(),
            month,
            name,
            path,
        })
    }

    /// A read-write connection to the file, which must exist. A statement
    /// of a batch journals in memory the pages it changes (a few hundred
    /// KiB), not in a temporary file created and deleted at each commit.
    pub fn open(&self, file: &EventFile) -> QueryResult<DbConnection> {
        let mut conn = connect(&file.path)?;
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
             PRAGMA temp_store = MEMORY;",
            self.busy_timeout_ms
        ))?;
        Ok(DbConnection::Sqlite(conn))
    }

    /// Runs a read on this thread's read-only connection to the file; `None`
    /// when the file has gone meanwhile (a sweep removed it).
    pub fn read<T>(
        &self,
        file: &EventFile,
        f: impl FnOnce(&mut DbConnection) -> QueryResult<T>,
    ) -> QueryResult<Option<T>> {
        let generation = self.generation.load(Ordering::Acquire);
        READERS.with(|readers| {
            let mut readers = readers.borrow_mut();
            let (seen, conns) = readers.entry(self.id).or_default();
            if *seen != generation {
                conns.clear();
                *seen = generation;
            }
            if !conns.contains_key(&file.path) {
                let mut conn = match connect(&file.path) {
                    Ok(c) => c,
                    Err(_) if !file.path.exists() => return Ok(None),
                    Err(e) => return Err(e),
                };
                conn.batch_execute(&format!(
                    "PRAGMA query_only = ON; PRAGMA busy_timeout = {};",
                    self.reader_busy_timeout_ms
                ))?;
                conns.insert(file.path.clone(), DbConnection::Sqlite(conn));
            }
            let conn = conns.get_mut(&file.path).expect("inserted above");
            let result = f(conn);
            if result.is_err() {
                conns.remove(&file.path);
            }
            result.map(Some)
        })
    }

    /// Deletes the file and what SQLite keeps beside it. A large file is
    /// first cut down `SHRINK_STEP` at a time, `pause` apart: the system
    /// frees its blocks and cached pages in short steps, not in one long
    /// call while consents are being written.
    pub fn remove(&self, file: &EventFile, pause: Duration) -> QueryResult<()> {
        const SHRINK_STEP: u64 = 32 << 20;
        lock(&self.writers).retain(|_, w| w.file.name != file.name);
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&file.path) {
            let mut len = f.metadata().map_err(io_error)?.len();
            while len > SHRINK_STEP {
                len -= SHRINK_STEP;
                f.set_len(len).map_err(io_error)?;
                std::thread::sleep(pause);
            }
        }
        for suffix in ["", "-wal", "-shm"] {
            let mut p = file.path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(e)),
            }
        }
        if let Some(dir) = file.path.parent() {
            sync_dir(dir).map_err(io_error)?;
        }
        lock(&self.retired).remove(&file.name);
        self.changed(&file.tenant_id);
        Ok(())
    }
}

diesel::table! {
    /// The one row of `files.sql` saying what a file holds.
    consent_file (id) {
        id -> Text,
        tenant_id -> Text,
        month -> Text,
        retired -> Bool,
    }
}

/// Whether a sweep has retired the file open on `conn` (a statement kept
/// prepared: it runs before every write).
pub fn is_retired(conn: &mut DbConnection) -> QueryResult<bool> {
    consent_file::table
        .select(consent_file::retired)
        .first(conn)
}

/// Marks the file open on `conn` retired: nothing is written to it again.
pub fn retire(conn: &mut DbConnection) -> QueryResult<()> {
    diesel::update(consent_file::table)
        .set(consent_file::retired.eq(true))
        .execute(conn)
        .map(drop)
}

/// Opens an existing file read-write, never creating one.
fn connect(path: &Path) -> QueryResult<SqliteConnection> {
    let uri = existing_file_uri(path).map_err(io_error)?;
    SqliteConnection::establish(&uri).map_err(|e| {
        Error::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(format!("consent file {}: {e}", path.display())),
        )
    })
}

/// A folder only the service's user may enter: the files hold personal data.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Makes a file's creation, renaming or removal in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}
