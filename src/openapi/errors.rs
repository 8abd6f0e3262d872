//! The answers that follow from what an operation is rather than from what
//! it does: every one may fail (500); one that reads the database may find
//! it away or busy (503); one that writes to it may give way to a
//! concurrent change (409); one behind a token may be refused it (401); one that
//! takes a body may get it malformed (400), too large (413) or of the wrong
//! type (415); one that takes a query may get it malformed (400). Some
//! follow from its address: one that names a tenant (`{tenant}`, `?tenant=`)
//! may not find it (404); a banner's operation (`consent`, under
//! `/v1/tenants/{tenant}`) refuses an origin the tenant does not list (403);
//! an admin's operation refuses other accounts (403); a `{subject_id}` that
//! is not a UUID, or paging out of bounds, is invalid (422). Each is
//! problem+json; 429 and 503 carry `Retry-After`. An operation documents
//! only what it adds, or a more precise description of one of these, by its
//! status and description alone: every error answer gets the problem+json
//! body here, so no annotation repeats it.

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
            let tenant_path = path.contains("{tenant}");
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
                let tagged = |tag: &str| op.tags.iter().flatten().any(|t| t == tag);
                let banner = tenant_path && tagged("consent");
                let admin = secured && tagged("admin");
                let tenant = tenant_path || queries(op).any(|name| name == "tenant");
                let paged = queries(op).any(|name| name == "page" || name == "per_page");
                if banner {
                    add(op, "403", "Origin not allowed for this tenant.");
                }
                if admin {
                    add(op, "403", "Not an admin.");
                }
                if tenant {
                    add(op, "404", "Unknown tenant.");
                }
                if path.contains("{subject_id}") {
                    add(op, "422", "The subject id is not a UUID.");
                }
                if paged {
                    add(op, "422", "Invalid paging.");
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
                // Every error answer is problem+json: an operation names the
                // status and says what it means, never the body again.
                for (status, response) in op.responses.responses.iter_mut() {
                    let error = status.parse::<u16>().is_ok_and(|code| code >= 400);
                    if let (true, RefOr::T(response)) = (error, response) {
                        if response.content.is_empty() {
                            response.content.insert(
                                PROBLEM_JSON.to_owned(),
                                Content::new(Some(Ref::from_schema_name("Problem"))),
                            );
                        }
                    }
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

/// The names of an operation's query parameters.
fn queries(op: &Operation) -> impl Iterator<Item = &str> {
    op.parameters
        .iter()
        .flatten()
        .filter(|p| matches!(p.parameter_in, ParameterIn::Query))
        .map(|p| p.name.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_from_an_address_is_declared_for_every_operation_as_problem_json() {
        let mut doc = crate::openapi::annotated();
        for (path, item) in doc.paths.paths.iter_mut() {
            for (_, op) in operations(item) {
                let has = |status: &str| op.responses.responses.contains_key(status);
                assert!(has("500"), "{path}");
                if path.contains("{tenant}") || queries(op).any(|name| name == "tenant") {
                    assert!(has("404"), "{path}");
                }
                if op.tags.iter().flatten().any(|t| t == "admin") {
                    assert!(has("401") && has("403"), "{path}");
                }
                for (status, response) in &op.responses.responses {
                    if status.as_str() >= "400" {
                        let RefOr::T(response) = response else {
                            continue;
                        };
                        assert!(
                            response.content.contains_key(PROBLEM_JSON),
                            "{path} {status} is problem+json"
                        );
                    }
                }
            }
        }
    }
}
