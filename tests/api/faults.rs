//! Faults, each checking that nothing acknowledged is lost: SMTP down for
//! a burst of submissions, PostgreSQL restarted under consent load,
//! `kill -9` of `guichet serve` mid-upload and mid-sweep, a full disk under
//! the SQLite file, a read-only SQLite file.
//!
//! The PostgreSQL fault runs on a cluster of its own (never the shared
//! server); the disk faults mount a small tmpfs and set `chattr +i`, which
//! need root. Heavy: ignored unless asked for (`cargo test --
//! --include-ignored`); a test fails as NOT RUN when the machine allows
//! neither.

mod disk;
mod kill;
mod outages;
mod postgres;
mod smtp;
pub mod support;
