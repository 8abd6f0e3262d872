//! What every route shares: request ids, logs and metrics per request,
//! problem+json for every error, panics turned into 500s, body extraction.

mod extract;
mod middleware;

pub use extract::{ValidatedJson, ValidatedQuery};
pub use middleware::{catch_panic, not_found, observe, problem_fallback, RequestId};
