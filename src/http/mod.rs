//! What every route shares: request ids, logs and metrics per request,
//! problem+json for every error, panics turned into 500s, body extraction,
//! the client's address and the limits kept per key.

mod body;
mod client;
mod days;
mod extract;
mod keyed_limit;
mod middleware;
mod pagination;

pub use body::{bound_body, BodyLimits};
pub use client::{client_ip, limit_key};
pub use days::{check_instant, day_range, parse_day, FIRST_DAY, LAST_DAY};
pub use extract::{not_blank, parse_json, plain_text, validation_problem, JsonBody, ValidatedJson};
pub use keyed_limit::{KeyedLimit, Refused};
pub use middleware::{catch_panic, not_found, observe, problem_fallback, RequestId};
pub use pagination::{ListResponse, PageQuery, DEFAULT_PAGE_SIZE};
