//! SQLite's online backup (`sqlite3_backup_*`), which diesel does not
//! offer: a copy of a database file as one read transaction saw it, taken
//! while other connections keep writing (in WAL mode they never wait for
//! it). The only unsafe code of the backup; everything else is plain files.

use std::ffi::{CStr, CString};
use std::os::raw::c_int;
use std::path::Path;
use std::ptr;

use libsqlite3_sys as ffi;

/// One open SQLite handle, closed when dropped.
struct Handle(*mut ffi::sqlite3);

impl Handle {
    fn open(path: &Path, flags: c_int) -> Result<Self, String> {
        use std::os::unix::ffi::OsStrExt;
        let c_path = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| format!("{}: a NUL byte in the name", path.display()))?;
        let mut db = ptr::null_mut();
        // SAFETY: `c_path` is NUL-terminated and outlives the call; `db`
        // receives a handle (even on failure, to be closed) or stays null.
        let rc = unsafe { ffi::sqlite3_open_v2(c_path.as_ptr(), &mut db, flags, ptr::null()) };
        let handle = Self(db);
        if rc != ffi::SQLITE_OK {
            return Err(format!("{}: {}", path.display(), handle.message(rc)));
        }
        Ok(handle)
    }

    /// SQLite's message for the last failure on this handle, or for `rc`.
    fn message(&self, rc: c_int) -> String {
        // SAFETY: both functions return static or handle-owned strings,
        // copied at once; a null handle is accepted by `sqlite3_errmsg`.
        unsafe {
            let text = if self.0.is_null() {
                ffi::sqlite3_errstr(rc)
            } else {
                ffi::sqlite3_errmsg(self.0)
            };
            if text.is_null() {
                return format!("SQLite error {rc}");
            }
            CStr::from_ptr(text).to_string_lossy().into_owned()
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from `sqlite3_open_v2`, is closed once,
        // and no statement or backup object of it outlives it (the backup
        // below is finished before its handles drop).
        unsafe {
            ffi::sqlite3_close(self.0);
        }
    }
}

/// Copies the database file `source` (which must exist) to `target` (a
/// new file, created with mode 0600): every page, in one read transaction,
/// so the copy is the database as it was at one instant. `busy_timeout_ms`
/// bounds the wait for a lock another connection holds.
pub fn copy_database(source: &Path, target: &Path, busy_timeout_ms: u64) -> Result<(), String> {
    if !source.is_file() {
        return Err(format!("{}: no such database file", source.display()));
    }
    super::prepare_sqlite_file(target).map_err(|e| format!("{}: {e}", target.display()))?;
    // Read-write without creating: a connection to a WAL database needs its
    // shared-memory file, which a read-only one may not be able to make.
    let from = Handle::open(source, ffi::SQLITE_OPEN_READWRITE)?;
    let to = Handle::open(target, ffi::SQLITE_OPEN_READWRITE)?;
    let timeout = c_int::try_from(busy_timeout_ms).unwrap_or(c_int::MAX);
    // SAFETY: both handles are open; the backup object is finished before
    // either is closed (they drop after this block).
    unsafe {
        ffi::sqlite3_busy_timeout(from.0, timeout);
        ffi::sqlite3_busy_timeout(to.0, timeout);
        let main = c"main";
        let backup = ffi::sqlite3_backup_init(to.0, main.as_ptr(), from.0, main.as_ptr());
        if backup.is_null() {
            return Err(format!("{}: {}", target.display(), to.message(0)));
        }
        // All pages in one step: one read transaction on the source, so a
        // write committed meanwhile never restarts the copy.
        let step = ffi::sqlite3_backup_step(backup, -1);
        let finish = ffi::sqlite3_backup_finish(backup);
        if step != ffi::SQLITE_DONE {
            return Err(format!(
                "{}: the copy stopped: {}",
                source.display(),
                from.message(step)
            ));
        }
        if finish != ffi::SQLITE_OK {
            return Err(format!("{}: {}", target.display(), to.message(finish)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    #[test]
    fn a_copy_holds_what_was_committed_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("a.db");
        let mut conn = SqliteConnection::establish(&source.to_string_lossy()).unwrap();
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (x INTEGER); \
             INSERT INTO t VALUES (1), (2), (3);",
        )
        .unwrap();
        let target = dir.path().join("copy.db");
        copy_database(&source, &target, 1000).unwrap();
        // Written after the copy: not in it.
        conn.batch_execute("INSERT INTO t VALUES (4)").unwrap();
        let mut copy = SqliteConnection::establish(&target.to_string_lossy()).unwrap();
        let count: Count = diesel::sql_query("SELECT count(*) AS n FROM t")
            .get_result(&mut copy)
            .unwrap();
        assert_eq!(count.n, 3);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let err =
            copy_database(&dir.path().join("none.db"), &dir.path().join("x.db"), 10).unwrap_err();
        assert!(err.contains("no such database file"), "{err}");
    }
}
