//! How the process serves: its address and timeouts, the proxies it
//! believes, its data folder, its logs and the limits of a request.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port to listen on.
    pub bind: String,
    /// Worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Public base URL, used in links sent by email.
    pub public_url: String,
    /// Seconds a client has to send its request head.
    pub client_request_timeout_secs: u64,
    /// Seconds a request body may stop arriving before the request ends
    /// in a 408.
    pub body_idle_timeout_secs: u64,
    /// Seconds a whole request body may take, from the request head.
    pub body_timeout_secs: u64,
    /// Seconds given to in-flight requests at shutdown.
    pub shutdown_timeout_secs: u64,
    /// Reverse proxies whose forwarding header is believed; from anyone
    /// else the peer address is the client's.
    #[serde(default)]
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// The header the trusted proxies write the client's address in.
    #[serde(default)]
    pub forwarded_header: ForwardedHeader,
}

/// Where a reverse proxy writes the address it received a request from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// Folder for the SQLite file, generated secrets and file mail.
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `guichet=debug,info`.
    pub level: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest JSON body accepted, in bytes.
    pub json_body_bytes: usize,
    /// Largest `per_page` of a list.
    pub max_page_size: u32,
    /// Largest `page` of a list.
    pub max_page: u32,
    /// Largest logo file of a tenant (`tenants.SLUG.theme.logo`), in bytes.
    pub max_logo_bytes: usize,
}
