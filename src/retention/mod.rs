//! Retention: nothing kept longer than the policies promise. Periods per
//! tenant, the sweep that removes what has outlived them, its schedule, its
//! lock, and the record each sweep leaves.
//!
//! The sweep and its record return a [`RetentionError`]; the HTTP edge
//! (`http`: the list of sweeps) answers with problem+json, `guichet purge`
//! (`cli::purge`) with a line on the terminal.

mod consent_files;
pub mod http;
pub mod lock;
pub mod runs;
pub mod scheduler;
mod steps;
pub mod sweep;

pub use crate::clock::Period;
pub use crate::config::{PeriodOverrides, Periods, RetentionSettings};
pub use http::{list_runs, routes, RetentionService};

/// Why a sweep, or reading the record of sweeps, failed.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error("No tenant is named `{0}`.")]
    UnknownTenant(String),
    /// The sweep stopped; its record says so, with this reason as told to
    /// staff.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Connection(#[from] crate::db::DbError),
}
