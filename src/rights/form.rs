//! The fields of a rights request as a citizen fills them in (the JSON
//! API's body, the multipart form, the citizen's page): one typed struct,
//! `Submission`, whose serde and validator rules check them and whose
//! derived schema is what the OpenAPI document shows (`SubmissionJson`,
//! and `SubmissionForm` with the identity documents).
//!
//! A text is trimmed of white space first; white space alone is an absent
//! field. `subject_ids` is the one list: a JSON array, or the values a form
//! gave (`intake` splits them); it is kept normalised, duplicates folded.
//! The rules between fields (an opposition's scope and grounds)
//! are checked after the fields' own (`Submission::check`) and stated in
//! the document by `openapi::rules`.
//!
//! (Over 400 lines, a third of them its tests: the struct, its rules and
//! the schema of its fields are one description, kept in one place.)

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Deserializer};
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};
use validator::{ValidateArgs, ValidationError};

use super::arrival::{OnBehalfOf, Relation};
use super::error::RightsError;
use super::lifecycle::Kind;
use super::mail_text;
use super::patterns::{
    DETAILS_MAX, DOCUMENTS_MAX, EMAIL_MAX, NAME, NAME_MAX, OPTIONAL_TEXT, POSTAL_MAX,
    SUBJECT_IDS_MAX, TEXT,
};
use crate::config::RequestSettings;
use crate::error::FieldError;
use crate::http::plain_text;

/// The text fields a submission may hold.
pub const FIELDS: &[&str] = &[
    "kind",
    "kinds",
    "first_name",
    "last_name",
    "email",
    "postal_address",
    "details",
    "scope",
    "grounds",
    "subject_ids",
    "on_behalf_of",
];

/// The fields of `FIELDS` that hold a list: a JSON array, or a form's field
/// repeated.
pub const LISTS: &[&str] = &["subject_ids", "kinds"];

/// The fields of `FIELDS` that hold an object of texts, with its members: a
/// JSON object, or in a form one field per member (`on_behalf_of.relation`)
/// or the object as JSON text.
pub const OBJECTS: &[(&str, &[&str])] =
    &[("on_behalf_of", &["first_name", "last_name", "relation"])];

/// The limits of a submission that come from the configuration.
pub struct FormLimits {
    /// `requests.details_max_chars`: `details` and `grounds`.
    pub details_max: usize,
    /// `requests.max_subject_ids`: distinct banner identifiers.
    pub subject_ids_max: usize,
    /// Staff enter requests received by post, at the counter or by
    /// telephone, whose requester may have given no e-mail address.
    pub email_optional: bool,
}

impl FormLimits {
    pub fn of(requests: &RequestSettings) -> Self {
        Self {
            details_max: requests.details_max_chars,
            subject_ids_max: requests.max_subject_ids,
            email_optional: false,
        }
    }
}

/// A rights request as sent, each text trimmed (white space alone is
/// absent); `check` turns it into a `Form` or says every field that is
/// wrong.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, validator::Validate)]
#[serde(deny_unknown_fields)]
#[schema(as = SubmissionJson, description = "A rights request without identity documents.")]
#[validate(context = FormLimits)]
pub struct Submission {
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = kind_schema)]
    #[validate(custom(function = "known_kind"))]
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "trimmed_each")]
    #[schema(schema_with = kinds_schema)]
    pub kinds: Option<Vec<String>>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = first_name_schema, required = true)]
    #[validate(
        required(message = "is required"),
        length(max = 100, message = "must be at most 100 characters"),
        custom(function = "one_line"),
        custom(function = "greets")
    )]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = last_name_schema, required = true)]
    #[validate(
        required(message = "is required"),
        length(max = 100, message = "must be at most 100 characters"),
        custom(function = "one_line"),
        custom(function = "greets")
    )]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = email_schema, required = true)]
    #[validate(
        length(max = 254, message = "must be at most 254 characters"),
        custom(function = "one_line"),
        email(message = "must be an e-mail address")
    )]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = postal_address_schema)]
    #[validate(
        length(max = 500, message = "must be at most 500 characters"),
        custom(function = "plain_text")
    )]
    pub postal_address: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = details_schema, required = true)]
    #[validate(
        required(message = "is required"),
        custom(function = "plain_text"),
        custom(function = "within_details", use_context)
    )]
    pub details: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = scope_schema)]
    pub scope: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = grounds_schema)]
    #[validate(
        custom(function = "plain_text"),
        custom(function = "within_details", use_context)
    )]
    pub grounds: Option<String>,
    #[serde(default, deserialize_with = "trimmed_each")]
    #[schema(schema_with = subject_ids_schema)]
    #[validate(
        custom(function = "uuids"),
        custom(function = "within_subject_ids", use_context)
    )]
    pub subject_ids: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<OnBehalf>)]
    pub on_behalf_of: Option<OnBehalf>,
}

/// The person a request is made for, as sent: each text trimmed, an
/// object of empty texts (a form's fields left blank) is none.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    as = OnBehalfOfSubmission,
    description = "The person the request is made for, when the requester acts for another: under a mandate (its copy is required, file part `mandate`), as a parent or as a guardian."
)]
pub struct OnBehalf {
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = first_name_schema, required = true)]
    pub first_name: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(schema_with = last_name_schema, required = true)]
    pub last_name: Option<String>,
    #[serde(default, deserialize_with = "trimmed")]
    #[schema(value_type = Relation, required = true)]
    pub relation: Option<String>,
}

/// The fields of a request, checked.
#[derive(Debug, Clone)]
pub struct Form {
    /// The rights asked for, each once, in the order given: one request
    /// each.
    pub kinds: Vec<Kind>,
    pub first_name: String,
    pub last_name: String,
    /// Required but from staff (`FormLimits::email_optional`).
    pub email: Option<String>,
    pub postal_address: Option<String>,
    pub details: String,
    pub scope: Option<String>,
    pub grounds: Option<String>,
    /// Lower-case hyphenated UUIDs, each once, in the order given.
    pub subject_ids: Vec<String>,
    pub on_behalf_of: Option<OnBehalfOf>,
}

impl Form {
    /// Reads and checks the fields of a form: its texts, and its lists
    /// (`LISTS`).
    pub fn parse(
        fields: &HashMap<String, String>,
        lists: &HashMap<String, Vec<String>>,
        limits: &FormLimits,
    ) -> Result<Self, RightsError> {
        Submission::from_fields(fields, lists)?.check(limits)
    }
}

impl Submission {
    /// The submission the fields of a form make (fields not in `FIELDS`
    /// are left to the reader of the form to refuse).
    pub fn from_fields(
        fields: &HashMap<String, String>,
        lists: &HashMap<String, Vec<String>>,
    ) -> Result<Self, RightsError> {
        let texts = fields
            .iter()
            .filter(|(name, _)| {
                FIELDS.contains(&name.as_str())
                    && !LISTS.contains(&name.as_str())
                    && !OBJECTS.iter().any(|(o, _)| o == name)
            })
            .map(|(name, value)| (name.clone(), value.clone().into()));
        let lists = lists
            .iter()
            .filter(|(name, _)| LISTS.contains(&name.as_str()))
            .map(|(name, values)| (name.clone(), values.clone().into()));
        let mut known: serde_json::Map<String, serde_json::Value> = texts.chain(lists).collect();
        for (object, members) in OBJECTS {
            let mut found = serde_json::Map::new();
            for member in *members {
                if let Some(value) = fields.get(&format!("{object}.{member}")) {
                    found.insert((*member).to_owned(), value.clone().into());
                }
            }
            if !found.is_empty() {
                known.insert((*object).to_owned(), found.into());
            }
        }
        serde_json::from_value(known.into()).map_err(|e| RightsError::UnreadableForm(e.to_string()))
    }

    /// Every field's own rules, then the rules between fields: the checked
    /// form, or `RightsError::Invalid` naming each field that is wrong.
    pub fn check(self, limits: &FormLimits) -> Result<Form, RightsError> {
        let mut errors = match self.validate_with_args(limits) {
            Ok(()) => Vec::new(),
            Err(found) => {
                let mut listed = Vec::new();
                for (field, problems) in found.field_errors() {
                    for problem in problems {
                        listed.push(FieldError {
                            field: field.to_string(),
                            message: problem
                                .message
                                .as_deref()
                                .unwrap_or("is not valid")
                                .to_owned(),
                        });
                    }
                }
                listed
            }
        };
        let mut refuse = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        let kinds = match (self.kind.as_deref(), self.kinds.as_deref()) {
            (Some(_), Some(_)) => {
                refuse("kinds", "give kind or kinds, not both");
                Vec::new()
            }
            (None, None) => {
                refuse("kind", "is required");
                Vec::new()
            }
            (Some(kind), None) => Kind::parse(kind).into_iter().collect(),
            (None, Some(list)) => match kinds_of(list) {
                Ok(kinds) => kinds,
                Err(why) => {
                    refuse("kinds", why);
                    Vec::new()
                }
            },
        };
        let opposition = kinds.contains(&Kind::Opposition);
        match (opposition, self.scope.as_deref()) {
            (true, None) => refuse(
                "scope",
                "is required for an opposition: prospection or processing",
            ),
            (true, Some("prospection" | "processing")) => {}
            (true, Some(_)) => refuse("scope", "must be prospection or processing"),
            (false, Some(_)) if !kinds.is_empty() => refuse("scope", "applies to oppositions only"),
            _ => {}
        }
        if opposition && self.scope.as_deref() == Some("processing") && self.grounds.is_none() {
            refuse(
                "grounds",
                "is required for an opposition to processing (the legitimate ground)",
            );
        }
        if self.email.is_none() && !limits.email_optional {
            refuse("email", "is required");
        }
        let on_behalf_of = self.on_behalf_of.and_then(|o| o.check(&mut refuse));
        match (self.first_name, self.last_name, self.details) {
            (Some(first_name), Some(last_name), Some(details)) if errors.is_empty() => Ok(Form {
                kinds,
                first_name,
                last_name,
                email: self.email.map(|e| e.to_lowercase()),
                postal_address: self.postal_address,
                details,
                scope: self.scope,
                grounds: self.grounds,
                subject_ids: normalised(self.subject_ids.as_deref().unwrap_or_default()),
                on_behalf_of,
            }),
            _ => Err(RightsError::Invalid(errors)),
        }
    }
}

/// The rights a list names, each once: or why not.
fn kinds_of(list: &[String]) -> Result<Vec<Kind>, &'static str> {
    if list.is_empty() {
        return Err("must name at least one right");
    }
    let mut kinds = Vec::with_capacity(list.len());
    for name in list {
        let kind = Kind::parse(name).ok_or(
            "each must be access, rectification, erasure, restriction, opposition or portability",
        )?;
        if kinds.contains(&kind) {
            return Err("must not name a right twice");
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

impl OnBehalf {
    /// The person named, or none when nothing was filled in; each member
    /// wrong is refused as `on_behalf_of.member`.
    fn check(self, refuse: &mut impl FnMut(&str, &str)) -> Option<OnBehalfOf> {
        if self.first_name.is_none() && self.last_name.is_none() && self.relation.is_none() {
            return None;
        }
        let mut name = |member: &str, value: Option<String>| {
            let field = format!("on_behalf_of.{member}");
            let Some(value) = value else {
                refuse(&field, "is required");
                return None;
            };
            let why = if value.chars().count() > NAME_MAX {
                Some("must be at most 100 characters")
            } else if one_line(&value).is_err() {
                Some("must not contain control characters")
            } else {
                mail_text::refusal(&value)
            };
            match why {
                Some(why) => {
                    refuse(&field, why);
                    None
                }
                None => Some(value),
            }
        };
        let first_name = name("first_name", self.first_name);
        let last_name = name("last_name", self.last_name);
        let relation = match self.relation.as_deref().map(Relation::parse) {
            Some(Some(relation)) => Some(relation),
            Some(None) => {
                refuse(
                    "on_behalf_of.relation",
                    "must be mandate, parent or guardian",
                );
                None
            }
            None => {
                refuse(
                    "on_behalf_of.relation",
                    "is required: mandate, parent or guardian",
                );
                None
            }
        };
        Some(OnBehalfOf {
            first_name: first_name?,
            last_name: last_name?,
            relation: relation?,
        })
    }
}

/// A text as sent, trimmed; white space alone, or `null`, is absent.
fn trimmed<'de, D: Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(de)?;
    Ok(value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()))
}

/// Each text of a list trimmed; `null` is no list.
fn trimmed_each<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Vec<String>>, D::Error> {
    let values = Option::<Vec<String>>::deserialize(de)?;
    Ok(values.map(|v| v.iter().map(|s| s.trim().to_owned()).collect()))
}

/// A UUID written as `format: uuid` has it (8-4-4-4-12 hexadecimal
/// digits, any case), as the consent records keep a subject's: lower-case,
/// hyphenated.
fn uuid_text(value: &str) -> Option<String> {
    if value.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(value)
        .ok()
        .map(|u| u.hyphenated().to_string())
}

/// The identifiers, normalised, each once, in the order given.
fn normalised(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for id in values.iter().filter_map(|v| uuid_text(v)) {
        if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn uuids(values: &[String]) -> Result<(), ValidationError> {
    if values.iter().any(|v| uuid_text(v).is_none()) {
        return Err(rule(
            "uuid",
            "each must be a UUID, such as 3f2b6c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f",
        ));
    }
    Ok(())
}

fn within_subject_ids(values: &[String], limits: &FormLimits) -> Result<(), ValidationError> {
    let max = limits.subject_ids_max;
    let mut distinct: Vec<String> = values
        .iter()
        .map(|v| uuid_text(v).unwrap_or_else(|| v.clone()))
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() > max {
        return Err(rule(
            "length",
            format!("must hold at most {max} identifiers"),
        ));
    }
    Ok(())
}

fn rule(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn known_kind(value: &str) -> Result<(), ValidationError> {
    match Kind::parse(value) {
        Some(_) => Ok(()),
        None => Err(rule(
            "kind",
            "must be access, rectification, erasure, restriction, opposition or portability",
        )),
    }
}

/// One line: no control character at all.
fn one_line(value: &str) -> Result<(), ValidationError> {
    if value.chars().any(char::is_control) {
        return Err(rule("control", "must not contain control characters"));
    }
    Ok(())
}

/// The names may greet the requester in letters to an address no one has
/// confirmed yet: no link, nothing that turns text around.
fn greets(value: &str) -> Result<(), ValidationError> {
    match mail_text::refusal(value) {
        Some(why) => Err(rule("greeting", why)),
        None => Ok(()),
    }
}

fn within_details(value: &str, limits: &FormLimits) -> Result<(), ValidationError> {
    let max = limits.details_max;
    if value.chars().count() > max {
        return Err(rule("length", format!("must be at most {max} characters")));
    }
    Ok(())
}

fn text(pattern: &str, min: usize, max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
}

fn nullable(b: ObjectBuilder) -> ObjectBuilder {
    b.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn kind_schema() -> RefOr<Schema> {
    let mut kind = Kind::schema();
    if let RefOr::T(Schema::Object(object)) = &mut kind {
        object.description = Some("The right asked for. Give `kind` or `kinds`, not both.".into());
    }
    kind
}

fn kinds_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(Kind::schema())
        .min_items(Some(1))
        .max_items(Some(Kind::ALL.len()))
        .unique_items(true)
        .description(Some(
            "Several rights at once, each once: one request per right, each with its own \
             reference, status and outcome, sharing one `case_id`, one acknowledgement and \
             one tracking token. As a form: the field repeated.",
        ))
}

fn first_name_schema() -> ObjectBuilder {
    text(NAME, 1, NAME_MAX, "The requester's first name. Neither name may hold a web address, an e-mail address or a domain name (`not` the pattern of `LINK`), nor a character that changes the direction of text: they may greet the requester in letters to an address no one has confirmed.")
}

fn last_name_schema() -> ObjectBuilder {
    text(
        NAME,
        1,
        NAME_MAX,
        "The requester's last name, by the rules of `first_name`.",
    )
}

fn email_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(EMAIL_MAX))
        .description(Some("Where the acknowledgement and the answer go."))
}

fn postal_address_schema() -> ObjectBuilder {
    nullable(text(OPTIONAL_TEXT, 0, POSTAL_MAX, "Optional."))
}

fn details_schema() -> ObjectBuilder {
    text(TEXT, 1, DETAILS_MAX, "What is asked.")
}

fn scope_schema() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some([
            serde_json::json!("prospection"),
            serde_json::json!("processing"),
            serde_json::Value::Null,
        ]))
        .description(Some(
            "Required for an opposition, refused for any other kind: `prospection` \
             (the address goes on the suppression list) or `processing` (give `grounds`).",
        ))
}

fn grounds_schema() -> ObjectBuilder {
    nullable(text(
        OPTIONAL_TEXT,
        0,
        DETAILS_MAX,
        "Required for an opposition to processing: the legitimate ground.",
    ))
}

fn subject_ids_schema() -> ArrayBuilder {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        )
        .max_items(Some(SUBJECT_IDS_MAX))
        .description(Some(
            "Optional: the identifiers the tenant's cookie banner gave the requester's \
             browsers (the `subject_id` of their consents and receipts), whose consent \
             events the DPO's export of the request holds. UUIDs (any case), kept \
             lower-case, each once; at most \
             `requests.max_subject_ids` (10) distinct. As a form: the field repeated, \
             or identifiers separated by white space or commas.",
        ))
}

/// Files of the requester: PDF, JPEG or PNG.
pub fn documents_schema(min: usize, description: &str) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
        )
        .min_items((min > 0).then_some(min))
        .max_items(Some(DOCUMENTS_MAX))
        .description(Some(description))
}

fn documents(min: usize) -> ArrayBuilder {
    documents_schema(
        min,
        "A copy of an identity document: PDF, JPEG or PNG, checked by its bytes, \
         at most `requests.max_document_bytes` (10 MiB) each.",
    )
}

/// A rights request as a multipart form: `Submission`'s fields (a form
/// has no `null`: an absent field is left out) and its identity documents.
pub struct SubmissionForm;

impl PartialSchema for SubmissionForm {
    fn schema() -> RefOr<Schema> {
        let mut object = match Submission::schema() {
            RefOr::T(Schema::Object(object)) => object,
            other => return other,
        };
        for property in object.properties.values_mut() {
            if let RefOr::T(Schema::Array(list)) = property {
                list.schema_type = SchemaType::Type(Type::Array);
            }
            if let RefOr::T(Schema::Object(field)) = property {
                if let SchemaType::Array(types) = &field.schema_type {
                    let kept: Vec<Type> = types
                        .iter()
                        .filter(|t| **t != Type::Null)
                        .cloned()
                        .collect();
                    field.schema_type = SchemaType::from_iter(kept);
                }
                if let Some(values) = &mut field.enum_values {
                    values.retain(|v| !v.is_null());
                }
            }
        }
        object
            .properties
            .insert("id_document".into(), documents(0).build().into());
        let mandate = documents_schema(
            0,
            "With `on_behalf_of`: a copy of the mandate (required for `relation` `mandate`), \
             or of what gives a parent's or guardian's authority. PDF, JPEG or PNG, one file.",
        )
        .max_items(Some(1));
        object
            .properties
            .insert("mandate".into(), mandate.build().into());
        object.description = Some(
            "A rights request with its identity documents (required when the tenant asks for one)."
                .into(),
        );
        RefOr::T(Schema::Object(object))
    }
}

impl ToSchema for SubmissionForm {
    fn name() -> Cow<'static, str> {
        "SubmissionForm".into()
    }
}

/// The identity documents the DPO asked for, sent to the tracking page:
/// nothing but `id_document` parts (any other part is a 422).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = DocumentsForm)]
#[allow(dead_code)]
pub struct DocumentsUpload {
    #[schema(schema_with = required_documents)]
    id_document: Vec<String>,
}

fn required_documents() -> ArrayBuilder {
    documents(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(fields: &HashMap<String, String>, details_max: usize) -> Result<Form, RightsError> {
        let limits = FormLimits {
            details_max,
            subject_ids_max: 2,
            email_optional: false,
        };
        Form::parse(fields, &HashMap::new(), &limits)
    }

    fn with_subjects(ids: &[&str], max: usize) -> Result<Form, RightsError> {
        let fields: HashMap<String, String> = [
            ("kind", "access"),
            ("first_name", "Zoé"),
            ("last_name", "Martin"),
            ("email", "zoe@example.org"),
            ("details", "Mes cookies."),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let lists = HashMap::from([(
            "subject_ids".to_owned(),
            ids.iter().map(|s| s.to_string()).collect(),
        )]);
        let limits = FormLimits {
            details_max: 50,
            subject_ids_max: max,
            email_optional: false,
        };
        Form::parse(&fields, &lists, &limits)
    }

    #[test]
    fn identifiers_are_kept_normalised_and_each_once() {
        let form = with_subjects(
            &[
                " 3F2B6C1E-8D4A-4F6B-9C2D-1A2B3C4D5E6F ",
                "9A8B7C6D-5E4F-4A3B-8C2D-1E0F9A8B7C6D",
                "3f2b6c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f",
            ],
            2,
        )
        .unwrap();
        assert_eq!(
            form.subject_ids,
            [
                "3f2b6c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f",
                "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
            ]
        );
        assert!(with_subjects(&[], 2).unwrap().subject_ids.is_empty());
    }

    #[test]
    fn identifiers_must_be_uuids_and_few_enough() {
        let not_written_so = [
            "3f2b6c1e",
            "",
            "3f2b6c1e8d4a4f6b9c2d1a2b3c4d5e6f",
            "{3f2b6c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f}",
        ];
        let errors = refused(with_subjects(&not_written_so, 4).unwrap_err());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "subject_ids");
        assert!(errors[0].message.contains("UUID"), "{}", errors[0].message);
        let three = [
            "3f2b6c1e-8d4a-4f6b-9c2d-1a2b3c4d5e6f",
            "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
            "0b7e7d4e-8a2e-4d6e-9a55-3f1c2a4b5c6d",
        ];
        let errors = refused(with_subjects(&three, 2).unwrap_err());
        assert_eq!(errors[0].field, "subject_ids");
        assert_eq!(errors[0].message, "must hold at most 2 identifiers");
        assert!(with_subjects(&three, 3).is_ok());
    }

    /// The fields at fault, by name, as a 422 lists them.
    fn refused(e: RightsError) -> Vec<FieldError> {
        let RightsError::Invalid(mut errors) = e else {
            panic!("a field error, not {e}");
        };
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        errors
    }

    #[test]
    fn the_documented_fields_are_the_fields_read() {
        let RefOr::T(Schema::Object(object)) = Submission::schema() else {
            panic!("an object");
        };
        let documented: Vec<&str> = object.properties.keys().map(String::as_str).collect();
        let mut read = FIELDS.to_vec();
        read.sort_unstable();
        assert_eq!(documented, read);
    }

    #[test]
    fn every_field_wrong_is_named() {
        let fields: HashMap<String, String> = [
            ("kind", "oubli"),
            ("first_name", "Zoé\u{0007}"),
            ("last_name", "www.example.com"),
            ("email", "not-an-address"),
            ("details", " "),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let errors = refused(parse(&fields, 50).unwrap_err());
        let named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            named,
            ["details", "email", "first_name", "kind", "last_name"]
        );
        assert_eq!(errors[0].message, "is required");
    }

    #[test]
    fn a_complete_opposition_to_processing_passes_trimmed() {
        let fields: HashMap<String, String> = [
            ("kind", "opposition"),
            ("first_name", " Zoé "),
            ("last_name", "Martin"),
            ("email", "Zoe@Example.org"),
            ("details", "Cessez."),
            ("scope", "processing"),
            ("grounds", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let errors = refused(parse(&fields, 50).unwrap_err());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "grounds");
        let mut fields = fields;
        fields.insert("grounds".into(), "Motif légitime.".into());
        let form = parse(&fields, 50).unwrap();
        assert_eq!(form.first_name, "Zoé");
        assert_eq!(form.email.as_deref(), Some("zoe@example.org"));
        assert_eq!(form.kinds, [Kind::Opposition]);
    }

    #[test]
    fn details_follow_the_configured_limit() {
        let fields: HashMap<String, String> = [
            ("kind", "access"),
            ("first_name", "Zoé"),
            ("last_name", "Martin"),
            ("email", "zoe@example.org"),
            ("details", "x".repeat(51).as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let errors = refused(parse(&fields, 50).unwrap_err());
        assert_eq!(errors[0].message, "must be at most 50 characters");
        assert!(parse(&fields, 51).is_ok());
    }
}
