//! The disk under the SQLite file: whether it can take writes, for
//! `/readyz`, and which SQLite errors mean it could not.

use std::path::Path;

/// Why the disk holding `file` cannot be counted on for writes: mounted
/// read-only, the file not writable (an immutable file, whatever the
/// user), or less than `min_free` bytes left.
pub fn check_writable(file: &Path, min_free: u64) -> Result<(), String> {
    use std::os::unix::ffi::OsStrExt;
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let c_dir = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| "the database folder's name holds a NUL byte".to_owned())?;
    let c_file = std::ffi::CString::new(file.as_os_str().as_bytes())
        .map_err(|_| "the database file's name holds a NUL byte".to_owned())?;
    // SAFETY: `stat` is a plain C struct that statvfs fills in; both
    // paths are NUL-terminated strings that outlive the calls.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_dir.as_ptr(), &mut stat) } != 0 {
        return Err(format!(
            "cannot inspect the database's disk: {}",
            std::io::Error::last_os_error()
        ));
    }
    if stat.f_flag & libc::ST_RDONLY != 0 {
        return Err("the database's disk is mounted read-only".into());
    }
    for (path, what) in [(&c_file, "file"), (&c_dir, "folder")] {
        // SAFETY: as above.
        if unsafe { libc::access(path.as_ptr(), libc::W_OK) } != 0 {
            return Err(format!(
                "the database {what} is not writable: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    let free = u64::from(stat.f_bavail).saturating_mul(u64::from(stat.f_frsize));
    if free < min_free {
        return Err(format!(
            "the database's disk has {free} bytes free, under `database.sqlite_min_free_bytes` ({min_free})"
        ));
    }
    Ok(())
}

/// SQLite's messages for a write the disk refused: full, read-only, or an
/// I/O error (the primary result codes `SQLITE_FULL`, `SQLITE_READONLY`,
/// `SQLITE_IOERR`, `SQLITE_CANTOPEN`; diesel reports them by message), and
/// the system's, for the consent files the service creates itself.
pub fn is_storage_message(message: &str) -> bool {
    [
        "database or disk is full",
        "attempt to write a readonly database",
        "disk I/O error",
        "unable to open database file",
        "No space left on device",
        "Disk quota exceeded",
        "Read-only file system",
        "Input/output error",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_writable_folder_with_room_passes_and_a_demand_beyond_the_disk_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.db");
        std::fs::write(&file, b"").unwrap();
        check_writable(&file, 0).unwrap();
        let err = check_writable(&file, u64::MAX).unwrap_err();
        assert!(err.contains("sqlite_min_free_bytes"), "{err}");
    }

    #[test]
    fn storage_messages_are_told_from_others() {
        assert!(is_storage_message("database or disk is full"));
        assert!(is_storage_message("attempt to write a readonly database"));
        assert!(is_storage_message(
            "consent files: No space left on device (os error 28)"
        ));
        assert!(!is_storage_message(
            "UNIQUE constraint failed: tenants.slug"
        ));
        assert!(!is_storage_message("database is locked"));
    }
}
