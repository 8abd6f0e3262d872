//! The integration tests, in one binary (`cargo test --test api`): the real
//! service on an ephemeral port, a fresh database per test (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` names a server), one module per
//! area, all sharing the harness in `common`.
//!
//! Run one area with a filter: `cargo test --test api consent::`.

mod common;

mod banner;
mod browser;
mod citizen_pages;
mod consent;
mod consent_reads;
mod console_pages;
mod faults;
mod hostile_http;
mod http_errors;
mod input_rules;
mod instances;
mod lockout;
mod mail;
mod operations;
mod queue;
mod races;
mod requests;
mod retention;
mod retention_cli;
mod security;
mod staff;
mod staff_cli;
mod startup;
