//! CORS per tenant: a banner may call from the tenant's own web origins
//! only. A preflight from an allowed origin gets the `Access-Control-Allow-*`
//! headers; any other origin gets none, and its requests are refused (403).
//! Requests without `Origin` (server to server) pass.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpResponse, ResponseError};

use super::service::ConsentService;
use crate::error::ApiError;

const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "content-type, idempotency-key, sec-gpc, x-request-id";
const EXPOSE_HEADERS: &str = "location, x-request-id";
const MAX_AGE: &str = "86400";

pub async fn tenant_cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let Some(origin) = origin else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let tenant = req.app_data::<web::Data<ConsentService>>().and_then(|s| {
        s.tenants
            .get(req.match_info().get("tenant").unwrap_or(""))
            .ok()
    });
    let Some(tenant) = tenant else {
        // An unknown tenant: the route answers 404, with no CORS headers.
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let allowed = tenant.allows_origin(&origin);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !allowed {
        let refusal = ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "This web origin is not allowed to call this tenant.",
        );
        return Ok(req.into_response(refusal.error_response()));
    }
    let origin_value = HeaderValue::from_str(&origin)
        .map_err(|_| ApiError::bad_request("Invalid Origin header."))?;
    if preflight {
        let res = HttpResponse::NoContent()
            .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin_value))
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS))
            .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, MAX_AGE))
            .insert_header((header::VARY, "Origin"))
            .finish();
        return Ok(req.into_response(res));
    }
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin_value);
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    Ok(res)
}
