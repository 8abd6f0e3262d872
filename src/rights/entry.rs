//! `POST /v1/dpo/requests`: a request that reached the authority on paper,
//! at the counter, by telephone or by e-mail, entered by staff. Its clock
//! starts when it was received, not when it is typed in; its requester may
//! have given no e-mail address (then nothing is e-mailed to them, and the
//! console prints the letters); the scanned letter is kept, encrypted, as
//! the identity documents are.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use actix_web::{post, web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::arrival::{check_received_at, Channel};
use super::error::RightsError;
use super::form::{Form, FormLimits, Submission, SubmissionForm, FIELDS};
use super::intake::{body_kind, read_json, read_multipart, BodyKind, FormRules, Intake};
use super::service::RightsService;
use super::submit::{receive, Arrival, Submitted};
use crate::error::{ApiError, FieldError};
use crate::staff::Staff;
use crate::tenants::Tenant;

/// The fields staff add to a submission.
pub const STAFF_FIELDS: &[&str] = &["tenant", "channel", "received_at"];

/// Every text field of a staff entry.
pub fn fields() -> Vec<&'static str> {
    FIELDS.iter().chain(STAFF_FIELDS).copied().collect()
}

/// Enters a request received by post, at the counter, by telephone…
#[utoipa::path(
    tag = "dpo",
    security(("bearer" = [])),
    request_body(
        description = "The submission's fields, with `channel`, `received_at` and (for an account serving several tenants) `tenant`; `email` is optional. As multipart, file parts `id_document` (2 at most), `mandate` (1) and `letter` (the scanned letter, 2 at most): PDF, JPEG or PNG, 10 MiB each, encrypted and kept as the identity documents.",
        content(
            (StaffSubmissionForm = "multipart/form-data"),
            (StaffSubmissionJson = "application/json"),
        ),
    ),
    responses(
        (status = 201, description = "Entered: reference, deadline (from `received_at`) and tracking token (shown once).", body = Submitted),
        (status = 400, description = "Malformed form or JSON."),
        (status = 404, description = "The tenant named is not one the account serves."),
        (status = 413, description = "A file or the form is too large."),
        (status = 415, description = "Not multipart or JSON, or a file that is not PDF, JPEG or PNG."),
        (status = 422, description = "Invalid fields: an unknown `channel`, a `received_at` in the future or more than three months old, a right named twice, a mandate missing…"),
        (status = 503, description = "Too many documents being received at once (`uploads_busy`); see Retry-After."),
    )
)]
#[post("/v1/dpo/requests")]
pub async fn enter_request(
    req: HttpRequest,
    staff: Staff,
    rights: web::Data<RightsService>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limits = &rights.settings.requests;
    let allowed = fields();
    let intake = match body_kind(&req)? {
        BodyKind::Multipart => {
            let rules = FormRules::submission(limits, true);
            read_multipart(&req, payload, &rights.uploads, &rules, &allowed).await?
        }
        BodyKind::Json => {
            read_json(payload, rights.settings.limits.json_body_bytes, &allowed).await?
        }
    };
    let submitted = enter(&rights, &staff, intake).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(submitted))
}

/// Checks and records a request staff entered (the API's and the
/// console's): its tenant must be one the account serves (404 otherwise),
/// its channel and date of receipt right, with every field of the
/// submission.
pub async fn enter(
    rights: &RightsService,
    staff: &Staff,
    intake: Intake,
) -> Result<Submitted, RightsError> {
    let tenant = tenant_of(rights, staff, &intake.fields)?;
    let now = rights.clock.now();
    let mut errors = Vec::new();
    let arrival = arrival_of(&intake.fields, staff, now, &mut errors);
    let limits = FormLimits {
        email_optional: true,
        ..FormLimits::of(&rights.settings.requests)
    };
    let Some(arrival) = arrival.filter(|_| errors.is_empty()) else {
        // Said with the submission's own faults, all at once.
        if let Err(RightsError::Invalid(found)) =
            Form::parse(&intake.fields, &intake.lists, &limits)
        {
            errors.extend(found);
        }
        return Err(RightsError::Invalid(errors));
    };
    receive(rights, tenant, intake, &limits, arrival).await
}

/// The tenant an entry is for: the one named, if the account serves it;
/// without a name, the account's own when it serves one (an admin, or a
/// DPO of several, must name one).
fn tenant_of(
    rights: &RightsService,
    staff: &Staff,
    fields: &HashMap<String, String>,
) -> Result<Arc<Tenant>, RightsError> {
    match fields
        .get("tenant")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty())
    {
        Some(slug) => {
            let tenant = rights.tenants.get(slug)?;
            if !staff.can_see(&tenant.id) {
                // As if it did not exist.
                return Err(RightsError::UnknownTenant(crate::tenants::UnknownTenant(
                    slug.to_owned(),
                )));
            }
            Ok(tenant)
        }
        None => staff
            .sole_tenant()
            .and_then(|id| rights.tenants.by_id(id))
            .ok_or_else(|| RightsError::field("tenant", "is required: the tenant's slug")),
    }
}

/// The channel and the date of receipt, or their faults in `errors`.
fn arrival_of(
    fields: &HashMap<String, String>,
    staff: &Staff,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<Arrival> {
    let mut refuse = |field: &str, message: &str| {
        errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        })
    };
    let given = |name: &str| fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    let channel = match given("channel").map(Channel::parse) {
        Some(Some(channel)) if Channel::STAFF.contains(&channel) => Some(channel),
        Some(_) => {
            refuse("channel", "must be post, counter, phone, email or other");
            None
        }
        None => {
            refuse(
                "channel",
                "is required: post, counter, phone, email or other",
            );
            None
        }
    };
    let received_at = match given("received_at").map(DateTime::parse_from_rfc3339) {
        Some(Ok(at)) => {
            let at = at.with_timezone(&Utc);
            match check_received_at(at, now) {
                Ok(()) => Some(at),
                Err(why) => {
                    refuse("received_at", why);
                    None
                }
            }
        }
        Some(Err(_)) => {
            refuse(
                "received_at",
                "must be a date and time (RFC 3339), such as 2026-11-30T09:00:00+01:00",
            );
            None
        }
        None => {
            refuse("received_at", "is required: when the request was received");
            None
        }
    };
    Some(Arrival {
        channel: channel?,
        received_at: received_at?,
        entered_by: Some(staff.email.clone()),
        verified: None,
    })
}

/// What staff add to a submission's fields, as schema properties.
fn staff_properties() -> [(&'static str, RefOr<Schema>); 3] {
    let tenant = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[a-z0-9-]{2,40}$"))
        .description(Some(
            "The tenant's slug: required from an account that serves several tenants.",
        ));
    let channel = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(
            Channel::STAFF
                .iter()
                .map(|c| serde_json::Value::from(c.as_str())),
        ))
        .description(Some("How the request reached the authority."));
    let received_at = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .description(Some(
            "When the authority received it (RFC 3339): the answer's clock starts then. \
             Not in the future, not more than three months ago.",
        ));
    [
        ("tenant", tenant.build().into()),
        ("channel", channel.build().into()),
        ("received_at", received_at.build().into()),
    ]
}

/// A submission's schema with the staff's fields added, `channel` and
/// `received_at` required and `email` optional.
fn for_staff(schema: RefOr<Schema>, description: &str) -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut object)) = schema else {
        return schema;
    };
    for (name, property) in staff_properties() {
        object.properties.insert(name.into(), property);
    }
    object.required.retain(|r| r != "email");
    object
        .required
        .extend(["channel".into(), "received_at".into()]);
    object.description = Some(description.into());
    RefOr::T(Schema::Object(object))
}

/// A request entered by staff, as JSON.
pub struct StaffSubmissionJson;

impl PartialSchema for StaffSubmissionJson {
    fn schema() -> RefOr<Schema> {
        for_staff(
            Submission::schema(),
            "A request received by post, at the counter, by telephone…, without files.",
        )
    }
}

impl ToSchema for StaffSubmissionJson {
    fn name() -> Cow<'static, str> {
        "StaffSubmissionJson".into()
    }
}

/// A request entered by staff, as a multipart form with its files.
pub struct StaffSubmissionForm;

impl PartialSchema for StaffSubmissionForm {
    fn schema() -> RefOr<Schema> {
        let schema = for_staff(
            SubmissionForm::schema(),
            "A request received by post, at the counter, by telephone…, with the scanned \
             letter, identity documents and mandate if any.",
        );
        let RefOr::T(Schema::Object(mut object)) = schema else {
            return schema;
        };
        let letter = super::form::documents_schema(
            0,
            "The scanned letter: PDF, JPEG or PNG, checked by its bytes, at most \
             `requests.max_document_bytes` (10 MiB) each.",
        );
        object.properties.insert("letter".into(), letter.into());
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for StaffSubmissionForm {
    fn name() -> Cow<'static, str> {
        "StaffSubmissionForm".into()
    }
}
