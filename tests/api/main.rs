//! The integration tests, in one binary (`cargo test --test api`): the real
//! service on an ephemeral port, a fresh database per test (SQLite, or
//! PostgreSQL when `TEST_DATABASE_URL` names a server), one module per
//! area, all sharing the harness in `common`.
//!
//! Run one area with a filter: `cargo test --test api consent::`.
//!
//! The heavy suites (`browser`, `browser_intake`, `browser_axe`, `banner`,
//! `faults`, `instances`, and `copy`'s round trip between the backends,
//! which needs a PostgreSQL server on either run) are ignored unless asked
//! for: `cargo test -- --include-ignored` runs them too, as CI does (`.ci/run`, which installs
//! what they need). Asked for on a machine without a tool they need
//! (chromium, chromedriver, the npm packages of the banner and of axe,
//! root, PostgreSQL's server programs), a test fails with `NOT RUN: …`,
//! never passes without having run.

mod common;

mod answer_pages;
mod answers;
mod arrivals;
mod backup;
mod banner;
mod browser;
mod browser_axe;
mod browser_intake;
mod citizen_pages;
mod consent;
mod consent_layout;
mod consent_reads;
mod consent_script;
mod consent_state;
mod consent_strings;
mod console_pages;
mod copy;
mod export;
mod faults;
mod franceconnect;
mod franceconnect_refusals;
mod hostile_http;
mod http_errors;
mod identity;
mod input_rules;
mod instances;
mod intake_pages;
mod lockout;
mod mail;
mod operations;
mod partitions;
mod queue;
mod races;
mod referents;
mod report_pages;
mod reports;
mod requests;
mod retention;
mod retention_cli;
mod security;
mod shared_dpo;
mod shared_dpo_accounts;
mod signals;
mod staff;
mod staff_cli;
mod staff_oidc;
mod startup;
mod theme;
