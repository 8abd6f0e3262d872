//! The patterns by which the OpenAPI document describes the texts a
//! citizen writes (`form::Submission`'s fields): the same rules the
//! validation applies, in the dialect of JSON Schema.
//!
//! A text is first trimmed of white space (as `str::trim` does); what is
//! left must hold no control character (line breaks and tabs excepted in a
//! multi-line text) and is at most so many characters long. The patterns
//! say exactly that; the lengths are those of the trimmed text.

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
/// Banner identifiers per submission, as `requests.max_subject_ids` has it by default.
pub const SUBJECT_IDS_MAX: usize = 10;
/// A message, closing note or rejection reason of the DPO, as
/// `requests.message_max_chars` has it by default.
pub const MESSAGE_MAX: usize = 50_000;
/// Attachments of one answer, as `requests.max_attachments` has it by default.
pub const ATTACHMENTS_MAX: usize = 5;
