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
    "first_name",
    "last_name",
    "email",
    "postal_address",
    "details",
    "scope",
    "grounds",
    "subject_ids",
];

/// The fields of `FIELDS` that hold a list: a JSON array, or a form's field
/// repeated.
pub const LISTS: &[&str] = &["subject_ids"];

/// The limits of a submission that come from the configuration.
pub struct FormLimits {
    /// `requests.details_max_chars`: `details` and `grounds`.
    pub details_max: usize,
    /// `requests.max_subject_ids`: distinct banner identifiers.
    pub subject_ids_max: usize,
}

impl FormLimits {
    pub fn of(requests: &RequestSettings) -> Self {
        Self {
            details_max: requests.details_max_chars,
            subject_ids_max: requests.max_subject_ids,
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
    #[schema(value_type = Kind, required = true)]
    #[validate(required(message = "is required"), custom(function = "known_kind"))]
    pub kind: Option<String>,
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
        required(message = "is required"),
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
}

/// The fields of a request, checked.
#[derive(Debug, Clone)]
pub struct Form {
    pub kind: Kind,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub postal_address: Option<String>,
    pub details: String,
    pub scope: Option<String>,
    pub grounds: Option<String>,
    /// Lower-case hyphenated UUIDs, each once, in the order given.
    pub subject_ids: Vec<String>,
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
            .filter(|(name, _)| FIELDS.contains(&name.as_str()) && !LISTS.contains(&name.as_str()))
            .map(|(name, value)| (name.clone(), value.clone().into()));
        let lists = lists
            .iter()
            .filter(|(name, _)| LISTS.contains(&name.as_str()))
            .map(|(name, values)| (name.clone(), values.clone().into()));
        let known: serde_json::Map<String, serde_json::Value> = texts.chain(lists).collect();
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
        let kind = self.kind.as_deref().and_then(Kind::parse);
        let mut refuse = |field: &str, message: &str| {
            errors.push(FieldError {
                field: field.into(),
                message: message.into(),
            })
        };
        match (kind, self.scope.as_deref()) {
            (Some(Kind::Opposition), None) => refuse(
                "scope",
                "is required for an opposition: prospection or processing",
            ),
            (Some(Kind::Opposition), Some("prospection" | "processing")) => {}
            (Some(Kind::Opposition), Some(_)) => {
                refuse("scope", "must be prospection or processing")
            }
            (Some(_), Some(_)) => refuse("scope", "applies to oppositions only"),
            _ => {}
        }
        if kind == Some(Kind::Opposition)
            && self.scope.as_deref() == Some("processing")
            && self.grounds.is_none()
        {
            refuse(
                "grounds",
                "is required for an opposition to processing (the legitimate ground)",
            );
        }
        match (
            kind,
            self.first_name,
            self.last_name,
            self.email,
            self.details,
        ) {
            (Some(kind), Some(first_name), Some(last_name), Some(email), Some(details))
                if errors.is_empty() =>
            {
                Ok(Form {
                    kind,
                    first_name,
                    last_name,
                    email: email.to_lowercase(),
                    postal_address: self.postal_address,
                    details,
                    scope: self.scope,
                    grounds: self.grounds,
                    subject_ids: normalised(self.subject_ids.as_deref().unwrap_or_default()),
                })
            }
            _ => Err(RightsError::Invalid(errors)),
        }
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

fn documents(min: usize) -> ArrayBuilder {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary))),
        )
        .min_items((min > 0).then_some(min))
        .max_items(Some(DOCUMENTS_MAX))
        .description(Some(
            "A copy of an identity document: PDF, JPEG or PNG, checked by its bytes, \
             at most `requests.max_document_bytes` (10 MiB) each.",
        ))
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
        assert_eq!(form.email, "zoe@example.org");
        assert_eq!(form.kind, Kind::Opposition);
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
