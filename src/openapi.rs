//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use crate::error::{FieldError, Problem};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Guichet",
        description = "Cookie consents and GDPR rights requests for French local authorities.",
        license(name = "AGPL-3.0-or-later"),
    ),
    paths(
        crate::ops::healthz,
        crate::ops::readyz,
        crate::ops::metrics,
        crate::staff::login::login,
        crate::staff::journal::list,
        crate::retention::list_runs,
        crate::staff::admin::list_users,
        crate::staff::admin::create_user,
        crate::staff::admin::disable_user,
        crate::mail::admin::list,
        crate::consent::handlers::policy,
        crate::consent::handlers::record,
        crate::consent::handlers::current,
        crate::consent::handlers::withdraw,
        crate::consent::handlers::history,
        crate::consent::handlers::jwks,
        crate::consent::stats::stats,
        crate::consent::stats::export,
        crate::requests::submit::submit,
        crate::requests::track::track,
        crate::requests::track::upload,
        crate::requests::queue::queue,
        crate::requests::queue::detail,
        crate::requests::dpo::transition,
        crate::requests::dpo::extend,
        crate::requests::dpo::message,
        crate::requests::dpo::document,
        crate::requests::dpo::suppression_check,
    ),
    components(schemas(Problem, FieldError, crate::ops::Health)),
    tags(
        (name = "operations", description = "Health, readiness and metrics for operators."),
        (name = "consent", description = "Cookie banners: policy, choices, receipts (CORS: the tenant's origins)."),
        (name = "requests", description = "Citizens' rights requests: submission, tracking, identity documents."),
        (name = "staff", description = "Sign-in of DPOs and admins."),
        (name = "dpo", description = "The DPO's work: requests, consents, journal (Bearer token)."),
        (name = "admin", description = "Platform administration (Bearer token, role admin)."),
    ),
    modifiers(&CommonErrors, &BearerAuth),
)]
pub struct ApiDoc;

/// Staff routes take `Authorization: Bearer <token>` from `/v1/auth/login`.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut Document) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every operation may answer 500 (internal error, no internals) and, when
/// the request is malformed at the HTTP level, 400; both are problem+json.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            for op in operations(item) {
                add_problem(
                    op,
                    "500",
                    "Unexpected error; the body carries no internals.",
                );
            }
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
        &mut item.head,
        &mut item.options,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(|op| op.as_mut())
}

fn add_problem(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    crate::error::PROBLEM_JSON,
                    Content::new(Some(Ref::from_schema_name("Problem"))),
                )
                .build()
                .into()
        });
}

/// The document served at `/openapi.json`.
pub fn document() -> Document {
    ApiDoc::openapi()
}
