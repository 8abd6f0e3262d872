//! Staff: accounts with argon2id passwords, sign-in locks, JWT sessions
//! that end at sign-out or a password change, roles, the journal of
//! connections, and the admin API for accounts.
//!
//! The rules and their storage return a [`StaffError`]; the HTTP edge
//! (`http`: the routes, the sign-in, the `Staff` extractor) answers with
//! problem+json. Everything it needs comes in one [`StaffService`].

pub mod accounts;
mod error;
pub mod http;
pub mod lockout;
pub mod password;
pub mod revoked;
mod service;
pub mod tenancy;
pub mod token;

pub use accounts::Role;
pub use error::StaffError;
pub use http::auth::{from_token, ScopeRefused, Staff};
pub use http::routes;
pub use service::{LoginLimiter, StaffService};
