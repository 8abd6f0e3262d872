//! The answers that follow from what an operation is rather than from what
//! it does: every one may fail (500); one that reads the database may find
//! it away or busy (503); one that writes to it may give way to a
//! concurrent change (409); one behind a token may be refused it (401); one that
//! takes a body may get it malformed (400), too large (413) or of the wrong
//! type (415); one that takes a query may get it malformed (400). Each is
//! problem+json; 429 and 503 carry `Retry-After`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{
    Content, OpenApi as Document, PathItem, Ref, RefOr, Response, ResponseBuilder,
};
use utoipa::Modify;

use crate::error::PROBLEM_JSON;

/// Operations answered without the database.
const NO_DATABASE: &[&str] = &[
    "/healthz",
    "/metrics",
    "/.well-known/jwks.json",
    "/v1/tenants/{tenant}/consent-policy",
];

pub struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let database = !NO_DATABASE.contains(&path.as_str());
            for (writes, op) in operations(item) {
                let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
                let body = op.request_body.is_some();
                let query = op
                    .parameters
                    .iter()
                    .flatten()
                    .any(|p| matches!(p.parameter_in, ParameterIn::Query));
                if body || query {
                    add(
                        op,
                        "400",
                        "Malformed request: a body or query that cannot be read.",
                    );
                }
                if secured {
                    add(
                        op,
                        "401",
                        "No valid token: missing, malformed, expired, or of a disabled account.",
                    );
                }
                if body {
                    add(op, "413", "The body is over the limit.");
                    add(op, "415", "The body is not of a type this operation takes.");
                }
                add(
                    op,
                    "500",
                    "Unexpected error; the body carries no internals.",
                );
                if database {
                    add(
                        op,
                        "503",
                        "The database cannot be reached right now, or is busy with other changes; try again after Retry-After.",
                    );
                }
                if database && writes {
                    add(
                        op,
                        "409",
                        "A concurrent change got in the way; nothing was recorded: try again.",
                    );
                }
                for status in ["429", "503"] {
                    if let Some(RefOr::T(response)) = op.responses.responses.get_mut(status) {
                        retry_after(response);
                    }
                }
            }
        }
    }
}

/// The operations of a path, each with whether its method writes.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [
        (false, &mut item.get),
        (true, &mut item.put),
        (true, &mut item.post),
        (true, &mut item.delete),
        (true, &mut item.patch),
        (false, &mut item.head),
        (false, &mut item.options),
        (false, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(writes, op)| Some((writes, op.as_mut()?)))
}

/// Adds a problem+json answer unless the operation documents its own.
fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build()
                .into()
        });
}

fn retry_after(response: &mut Response) {
    response
        .headers
        .entry("Retry-After".into())
        .or_insert_with(|| {
            HeaderBuilder::new()
                .schema(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::Type::Integer)
                        .minimum(Some(1)),
                )
                .description(Some("Seconds to wait before trying again."))
                .build()
        });
}
