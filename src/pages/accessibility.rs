//! `GET /t/{tenant}/accessibilite`: the tenant's accessibility statement
//! (RGAA): the state of conformity, how to report a barrier, and the
//! recourse to the Défenseur des droits. Every citizen page links to it
//! from its footer, as the RGAA asks.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::citizen::{tenant_ctx, tenant_of};
use super::render;
use super::{page, PageError};
use crate::rights::service::RightsService;
use crate::tenants::Locale;

/// The statement of a tenant's pages.
pub async fn statement(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let tenant = tenant_of(&rights, &path, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    let ctx = json!({
        "tenant": tenant_ctx(&rights, &tenant, lang),
        "form_url": format!("/t/{}/droits", tenant.slug),
    });
    page(
        &req,
        lang,
        StatusCode::OK,
        "citizen_accessibility.html",
        ctx,
    )
}
