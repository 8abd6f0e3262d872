//! The HTTP API: its routes (`routes`) and the OpenAPI 3.1 document
//! generated from the same handlers' annotations, with the answers every
//! operation shares (`errors`), the rules between fields (`rules`) and what
//! the running configuration says (`instance`: limits, purposes), so that
//! what `/openapi.json` says is what this instance does. A wrong method on
//! a documented path answers 405 with `Allow` (`allow`).
//!
//! A handler is described once: `#[utoipa::path(...)]` (no path, no
//! method) above its actix-web macro (`#[get("/…")]`), registered with
//! `.service(handler)` on a `utoipa_actix_web` `ServiceConfig` or `scope`,
//! reached from [`routes`]: the route is then in the document, and cannot
//! be served undocumented. `ApiDoc` lists no path: it holds the document's
//! information, security schemes and the schemas no operation names.

mod allow;
mod errors;
mod instance;
mod rules;

use actix_web::App;
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::service_config::ServiceConfig;
use utoipa_actix_web::AppExt;

use crate::config::Settings;
use crate::error::{FieldError, Problem};
use errors::CommonErrors;

pub use allow::Allowed;

/// A tenant's slug, as every `{tenant}` path parameter and `tenant` query
/// parameter takes it.
pub const TENANT_SLUG: &str = "^[a-z0-9-]{2,40}$";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Guichet",
        description = "Cookie consents and GDPR rights requests for French local authorities.",
        license(name = "AGPL-3.0-or-later"),
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "operations", description = "Health, readiness and metrics for operators."),
        (name = "consent", description = "Cookie banners: policy, choices, receipts (CORS: the tenant's origins)."),
        (name = "requests", description = "Citizens' rights requests: submission, tracking, identity documents."),
        (name = "staff", description = "Sign-in of DPOs and admins."),
        (name = "dpo", description = "The DPO's work: requests, consents, journal (Bearer token)."),
        (name = "admin", description = "Platform administration (Bearer token, role admin)."),
    ),
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

/// Every route of the API, in the order they are matched. The banners'
/// routes are the busiest: matched first.
pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(crate::consent::tenant_scope(crate::rights::tenant_routes))
        .configure(crate::consent::routes)
        .configure(crate::ops::routes)
        .configure(crate::staff::routes)
        .configure(crate::rights::routes)
        .configure(crate::retention::routes);
}

/// What the handlers registered by [`routes`] say of themselves.
fn collected() -> Document {
    App::new()
        .into_utoipa_app()
        .configure(routes)
        .split_for_parts()
        .1
}

/// The document as the annotations write it (those of [`routes`] and those
/// still listed in `ApiDoc`), with the shared answers and the limits of the
/// embedded defaults.
pub fn annotated() -> Document {
    let mut doc = ApiDoc::openapi();
    doc.merge(collected());
    BearerAuth.modify(&mut doc);
    CommonErrors.modify(&mut doc);
    doc
}

/// The document served at `/openapi.json`: the annotations, the rules
/// between fields, and this instance's limits.
pub fn document(annotated: &Document, settings: &Settings) -> serde_json::Value {
    let mut doc = serde_json::to_value(annotated).unwrap_or_default();
    rules::apply(&mut doc);
    instance::apply(&mut doc, settings);
    doc
}
