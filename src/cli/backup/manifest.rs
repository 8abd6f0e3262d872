//! A backup's `manifest.json`: what took it and when, and each file with
//! its size and SHA-256, so that a restore finds a missing, altered or
//! added file before it touches anything.

use std::io::Read;
use std::path::{Component, Path};

use sha2::{Digest, Sha256};

use super::{private_file, Refused};

pub const NAME: &str = "manifest.json";
/// The layout this version writes and reads.
pub const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The version of Guichet that took the backup.
    pub guichet: String,
    /// `sqlite` or `postgresql`.
    pub backend: String,
    /// When the copy began (RFC 3339, UTC).
    pub taken_at: String,
    pub files: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The file's path in the backup folder, `/`-separated.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// The size and SHA-256 of a file, read once in pieces.
pub fn measure(dir: &Path, path: &str) -> Result<Entry, Refused> {
    let full = dir.join(path);
    let fail = |e: std::io::Error| Refused(format!("{}: {e}", full.display()));
    let mut file = std::fs::File::open(&full).map_err(fail)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        size += n as u64;
    }
    Ok(Entry {
        path: path.to_owned(),
        size,
        sha256: hex::encode(hash.finalize()),
    })
}

impl Manifest {
    pub fn write(&self, dir: &Path) -> Result<(), Refused> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| Refused(e.to_string()))?;
        private_file(&dir.join(NAME), &text)
    }

    /// Reads the manifest of `dir` and checks every file it lists against
    /// it, and that the folder holds no other file.
    pub fn read_checked(dir: &Path) -> Result<Self, Refused> {
        let path = dir.join(NAME);
        let text = std::fs::read(&path).map_err(|e| {
            Refused(format!(
                "{}: {e} (a backup folder holds the manifest.json that `guichet backup` wrote)",
                path.display()
            ))
        })?;
        let manifest: Self = serde_json::from_slice(&text)
            .map_err(|e| Refused(format!("{}: not a backup manifest: {e}", path.display())))?;
        if manifest.format != FORMAT {
            return Err(Refused(format!(
                "{}: backup format {} is not the one this version reads ({FORMAT})",
                path.display(),
                manifest.format
            )));
        }
        for entry in &manifest.files {
            if !is_plain_relative(&entry.path) {
                return Err(Refused(format!(
                    "{}: `{}` is not a path inside the backup",
                    path.display(),
                    entry.path
                )));
            }
            let found = measure(dir, &entry.path)?;
            if found != *entry {
                return Err(Refused(format!(
                    "{}: does not match the manifest (size or SHA-256): the backup was altered",
                    dir.join(&entry.path).display()
                )));
            }
        }
        let mut present = Vec::new();
        list_files(dir, "", &mut present)?;
        if let Some(extra) = present
            .iter()
            .find(|p| *p != NAME && !manifest.files.iter().any(|e| &e.path == *p))
        {
            return Err(Refused(format!(
                "{}: not in the manifest: the backup was altered",
                dir.join(extra).display()
            )));
        }
        Ok(manifest)
    }

    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.files.iter().find(|e| e.path == path)
    }
}

/// A relative path of normal components only (no `..`, no root).
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Every file under `dir`, as `/`-separated paths relative to it.
pub fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), Refused> {
    let fail = |e: std::io::Error| Refused(format!("{}: {e}", dir.display()));
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let entry = entry.map_err(fail)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if entry.file_type().map_err(fail)?.is_dir() {
            list_files(&entry.path(), &format!("{rel}/"), out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_accepted() {
        assert!(is_plain_relative("consents/t/2026-03.ab.db"));
        assert!(!is_plain_relative("../secrets.toml"));
        assert!(!is_plain_relative("/etc/passwd"));
        assert!(!is_plain_relative("a/../../b"));
        assert!(!is_plain_relative(""));
    }
}
