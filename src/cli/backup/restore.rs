//! `guichet restore DIR`: a backup's files back in place, into an empty
//! data folder (SQLite) or an empty database (PostgreSQL), after the
//! manifest has vouched for every one of them. Anything found wrong first
//! (the manifest, a non-empty target, a target out of reach) is refused
//! before anything is written.

use std::path::{Path, PathBuf};

use super::manifest::{list_files, Manifest};
use super::{backend_name, pg, private_dir, set_private, CONSENTS, SECRETS, SQLITE_MAIN};
use crate::cli::{CmdResult, Refused};
use crate::config::{Backend, Settings};
use crate::db::ConnectionManager;

/// Where a restore writes, found empty.
enum Target {
    Sqlite { main: PathBuf, consents: PathBuf },
    Postgres,
}

/// `guichet restore DIR`.
pub fn restore(settings: &Settings, dir: &Path) -> CmdResult {
    let backend = settings.database.backend().map_err(Refused)?;
    // The target first: out of reach or not empty, nothing else matters.
    let target = match backend {
        Backend::Sqlite => empty_sqlite(settings)?,
        Backend::Postgres => {
            let db = &settings.database;
            let mut conn = ConnectionManager::new(db)?.open()?;
            if pg::holds_guichet(&mut conn)? {
                return Err(Refused(format!(
                    "{} already holds Guichet's tables: a restore goes into an empty database",
                    db.describe()
                ))
                .into());
            }
            Target::Postgres
        }
    };
    let manifest = Manifest::read_checked(dir)?;
    if manifest.backend != backend_name(backend) {
        return Err(Refused(format!(
            "{} holds a {} backup and database.url names a {} database: restore it into the \
             backend it came from (then `guichet copy --to` moves it)",
            dir.display(),
            manifest.backend,
            backend_name(backend)
        ))
        .into());
    }
    let secrets = read_listed(dir, &manifest, SECRETS)?;
    let secrets_path = settings.storage.data_dir.join(SECRETS);
    match std::fs::read(&secrets_path) {
        Ok(existing) if existing != secrets => {
            return Err(Refused(format!(
                "{} already holds other keys: a restore does not replace them (move it away first)",
                secrets_path.display()
            ))
            .into())
        }
        _ => {}
    }
    match target {
        Target::Sqlite { main, consents } => {
            // No service may start on the file while it is being put back.
            let _serving = crate::db::migrate::single_instance(&settings.database)
                .map_err(|e| Refused(e.to_string()))?;
            let source = listed(dir, &manifest, SQLITE_MAIN)?;
            let mut written = Written::default();
            let outcome = put_sqlite(dir, &manifest, &source, &main, &consents, &mut written);
            if outcome.is_err() {
                written.undo();
            }
            outcome?;
        }
        Target::Postgres => {
            let dump = listed(dir, &manifest, pg::DUMP)?;
            pg::restore(&settings.database, &dump)?;
        }
    }
    crate::secrets::place_backup(&settings.storage.data_dir, &secrets)?;
    println!(
        "restored the {} database from {} (taken at {} by Guichet {}): {} files; \
         the secrets are in {}",
        manifest.backend,
        dir.display(),
        manifest.taken_at,
        manifest.guichet,
        manifest.files.len(),
        secrets_path.display()
    );
    Ok(())
}

/// The path of a file the manifest must list.
fn listed(dir: &Path, manifest: &Manifest, name: &str) -> Result<PathBuf, Refused> {
    manifest
        .entry(name)
        .map(|e| dir.join(&e.path))
        .ok_or_else(|| Refused(format!("{}: the manifest lists no {name}", dir.display())))
}

fn read_listed(dir: &Path, manifest: &Manifest, name: &str) -> Result<Vec<u8>, Refused> {
    let path = listed(dir, manifest, name)?;
    std::fs::read(&path).map_err(|e| Refused(format!("{}: {e}", path.display())))
}

/// Whether a file is absent or empty (a file SQLite made without writing).
fn absent_or_empty(path: &Path) -> bool {
    std::fs::metadata(path).map_or(true, |m| m.len() == 0)
}

/// The SQLite target, refused unless it has no database yet: no main
/// file (or an empty one SQLite made without writing), no consent file.
fn empty_sqlite(settings: &Settings) -> Result<Target, Refused> {
    let main = PathBuf::from(settings.database.sqlite_path().unwrap_or_default());
    let consents = PathBuf::from(format!("{}-consents", main.display()));
    let wal = PathBuf::from(format!("{}-wal", main.display()));
    let mut present = Vec::new();
    if consents.is_dir() {
        list_files(&consents, "", &mut present)?;
    }
    if !absent_or_empty(&main) || !absent_or_empty(&wal) || !present.is_empty() {
        return Err(Refused(format!(
            "{} already holds a database: a restore goes into a data folder without one",
            main.display()
        )));
    }
    Ok(Target::Sqlite { main, consents })
}

/// What a restore wrote, undone should it fail half way.
#[derive(Default)]
struct Written {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Written {
    fn undo(&self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        for d in self.dirs.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }

    fn dir(&mut self, dir: &Path) -> Result<(), Refused> {
        if !dir.exists() {
            private_dir(dir)?;
            self.dirs.push(dir.to_owned());
        }
        Ok(())
    }
}

/// Copies `from` to `to` (0600, durable), through a temporary name: no
/// half-copied file ever has the final name.
fn copy_private(from: &Path, to: &Path, written: &mut Written) -> Result<(), Refused> {
    let tmp = PathBuf::from(format!("{}.restoring", to.display()));
    let fail = |e: std::io::Error| Refused(format!("{}: {e}", to.display()));
    written.files.push(tmp.clone());
    std::fs::copy(from, &tmp).map_err(fail)?;
    set_private(&tmp)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, to).map_err(fail)?;
    written.files.push(to.to_owned());
    Ok(())
}

fn put_sqlite(
    dir: &Path,
    manifest: &Manifest,
    source: &Path,
    main: &Path,
    consents: &Path,
    written: &mut Written,
) -> Result<(), Refused> {
    if let Some(parent) = main.parent().filter(|p| !p.as_os_str().is_empty()) {
        written.dir(parent)?;
    }
    for entry in &manifest.files {
        let Some(rest) = entry.path.strip_prefix(&format!("{CONSENTS}/")) else {
            continue;
        };
        let Some((tenant, name)) = rest.split_once('/').filter(|(_, n)| !n.contains('/')) else {
            return Err(Refused(format!(
                "{}: `{}` is not a consent file's place",
                dir.display(),
                entry.path
            )));
        };
        written.dir(consents)?;
        written.dir(&consents.join(tenant))?;
        copy_private(
            &dir.join(&entry.path),
            &consents.join(tenant).join(name),
            written,
        )?;
    }
    // The main file last: until it is in place, the folder has no database.
    let wal = PathBuf::from(format!("{}-wal", main.display()));
    let shm = PathBuf::from(format!("{}-shm", main.display()));
    for stale in [&wal, &shm] {
        let _ = std::fs::remove_file(stale);
    }
    copy_private(source, main, written)
}
