//! Guichet: cookie consents and GDPR rights requests for French local
//! authorities, on SQLite or PostgreSQL.

pub mod alloc;
pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consent;
pub mod db;
pub mod error;
pub mod http;
pub mod mail;
pub mod oidc;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod privacy;
pub mod retention;
pub mod rights;
pub mod schedule;
pub mod secrets;
pub mod shutdown;
pub mod staff;
pub mod telemetry;
pub mod tenants;
