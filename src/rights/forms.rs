//! What the OpenAPI document says a citizen sends: the fields of a rights
//! request (JSON, or multipart with identity documents) and the documents
//! sent later. The handlers read these forms field by field
//! (`form::Form::parse`, `intake`); these schemas describe them by the
//! same rules.
//!
//! A text is first trimmed of white space (as `str::trim` does); what is
//! left must hold no control character (line breaks and tabs excepted in a
//! multi-line text) and is at most so many characters long. The patterns
//! say exactly that; the lengths are those of the trimmed text.

use std::borrow::Cow;

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::lifecycle::Kind;

/// White space as `char::is_whitespace` has it.
macro_rules! space {
    () => {
        r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// Neither white space nor a control character: how a trimmed text begins
/// and ends.
macro_rules! edge {
    () => {
        r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    };
}

/// One line: no control character.
macro_rules! line {
    () => {
        r"[^\u0000-\u001f\u007f-\u009f]"
    };
}

/// Several lines: no control character but line breaks and tabs.
macro_rules! lines {
    () => {
        r"[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]"
    };
}

/// Characters that change the direction of text (`mail_text`).
macro_rules! bidi {
    () => {
        r"\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    };
}

/// A required name: one line, and no character that changes the direction
/// of text (a name may greet the requester in the letters).
pub const NAME: &str = concat!(
    "^[",
    space!(),
    "]*",
    r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    bidi!(),
    "](",
    r"[^\u0000-\u001f\u007f-\u009f",
    bidi!(),
    "]*",
    r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    bidi!(),
    "])?[",
    space!(),
    "]*$"
);

/// What a name must not hold (`mail_text::has_link`): a scheme, an `@`, or
/// a letter or digit, a full stop and two letters — what mail readers show
/// as a link.
pub const LINK: &str = r"://|@|[0-9A-Za-z][.\u3002\uff0e\uff61][A-Za-z]{2}";

/// A required one-line text.
pub const LINE: &str = concat!(
    "^[",
    space!(),
    "]*",
    edge!(),
    "(",
    line!(),
    "*",
    edge!(),
    ")?[",
    space!(),
    "]*$"
);
/// A required multi-line text.
pub const TEXT: &str = concat!(
    "^[",
    space!(),
    "]*",
    edge!(),
    "(",
    lines!(),
    "*",
    edge!(),
    ")?[",
    space!(),
    "]*$"
);
/// An optional multi-line text (white space alone counts as absent).
pub const OPTIONAL_TEXT: &str = concat!(
    "^[",
    space!(),
    "]*(",
    edge!(),
    "(",
    lines!(),
    "*",
    edge!(),
    ")?)?[",
    space!(),
    "]*$"
);

/// A text with more than white space in it.
pub const NOT_BLANK: &str = concat!("[^", space!(), "]");

/// Longest first or last name.
pub const NAME_MAX: usize = 100;
/// Longest e-mail address.
pub const EMAIL_MAX: usize = 254;
/// Longest postal address.
pub const POSTAL_MAX: usize = 500;
/// `details` and `grounds`, as `requests.details_max_chars` has it by default.
pub const DETAILS_MAX: usize = 5000;
/// Identity documents per submission, as `requests.max_documents` has it by default.
pub const DOCUMENTS_MAX: usize = 2;

fn text(pattern: &str, min: usize, max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length((min > 0).then_some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
}

fn fields(nullable: bool) -> ObjectBuilder {
    let optional = |b: ObjectBuilder| {
        if nullable {
            b.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        } else {
            b
        }
    };
    let scope = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["prospection", "processing"]))
        .description(Some(
            "Required for an opposition, refused for any other kind: `prospection` \
             (the address goes on the suppression list) or `processing` (give `grounds`).",
        ));
    ObjectBuilder::new()
        .property("kind", Kind::schema())
        .required("kind")
        .property(
            "first_name",
            text(NAME, 1, NAME_MAX, "The requester's first name. Neither name may hold a web address, an e-mail address or a domain name (`not` the pattern of `LINK`), nor a character that changes the direction of text: they may greet the requester in letters to an address no one has confirmed."),
        )
        .required("first_name")
        .property(
            "last_name",
            text(NAME, 1, NAME_MAX, "The requester's last name, by the rules of `first_name`."),
        )
        .required("last_name")
        .property(
            "email",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
                .max_length(Some(EMAIL_MAX))
                .description(Some("Where the acknowledgement and the answer go.")),
        )
        .required("email")
        .property(
            "postal_address",
            optional(text(OPTIONAL_TEXT, 0, POSTAL_MAX, "Optional.")),
        )
        .property("details", text(TEXT, 1, DETAILS_MAX, "What is asked."))
        .required("details")
        .property(
            "scope",
            if nullable {
                scope
                    .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                    .enum_values(Some([
                        serde_json::json!("prospection"),
                        serde_json::json!("processing"),
                        serde_json::Value::Null,
                    ]))
            } else {
                scope
            },
        )
        .property(
            "grounds",
            optional(text(
                OPTIONAL_TEXT,
                0,
                DETAILS_MAX,
                "Required for an opposition to processing: the legitimate ground.",
            )),
        )
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

/// A rights request as JSON, without documents (`null` is an absent field).
pub struct SubmissionJson;

impl PartialSchema for SubmissionJson {
    fn schema() -> RefOr<Schema> {
        fields(true)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some("A rights request without identity documents."))
            .build()
            .into()
    }
}

impl ToSchema for SubmissionJson {
    fn name() -> Cow<'static, str> {
        "SubmissionJson".into()
    }
}

/// A rights request as a multipart form, with its identity documents.
pub struct SubmissionForm;

impl PartialSchema for SubmissionForm {
    fn schema() -> RefOr<Schema> {
        fields(false)
            .property("id_document", documents(0))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(
                "A rights request with its identity documents (required when the tenant asks for one).",
            ))
            .build()
            .into()
    }
}

impl ToSchema for SubmissionForm {
    fn name() -> Cow<'static, str> {
        "SubmissionForm".into()
    }
}

/// The identity documents the DPO asked for.
pub struct DocumentsForm;

impl PartialSchema for DocumentsForm {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property("id_document", documents(1))
            .required("id_document")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build()
            .into()
    }
}

impl ToSchema for DocumentsForm {
    fn name() -> Cow<'static, str> {
        "DocumentsForm".into()
    }
}
