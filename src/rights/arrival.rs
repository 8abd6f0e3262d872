//! How a request arrived and for whom: the channel it came by (the public
//! form, or a letter, the counter, a call… entered by staff), when it was
//! received (the clock starts then, not when staff typed it), and the
//! person the requester acts for.

use chrono::{DateTime, Duration, Months, Utc};
use diesel::deserialize::{FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::lifecycle::stored_as_text;
use crate::tenants::Locale;

/// How a request reached the authority.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The public form or the API.
    Web,
    /// A letter.
    Post,
    /// In person, at the counter.
    Counter,
    /// A telephone call.
    Phone,
    /// An e-mail to the authority.
    Email,
    Other,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Web,
        Channel::Post,
        Channel::Counter,
        Channel::Phone,
        Channel::Email,
        Channel::Other,
    ];

    /// The channels staff may enter a request from.
    pub const STAFF: [Channel; 5] = [
        Channel::Post,
        Channel::Counter,
        Channel::Phone,
        Channel::Email,
        Channel::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Post => "post",
            Self::Counter => "counter",
            Self::Phone => "phone",
            Self::Email => "email",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// For people: « par courrier », "by post".
    pub fn label(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::Fr, Self::Web) => "en ligne",
            (Locale::Fr, Self::Post) => "par courrier",
            (Locale::Fr, Self::Counter) => "au guichet",
            (Locale::Fr, Self::Phone) => "par téléphone",
            (Locale::Fr, Self::Email) => "par courriel",
            (Locale::Fr, Self::Other) => "autrement",
            (Locale::En, Self::Web) => "online",
            (Locale::En, Self::Post) => "by post",
            (Locale::En, Self::Counter) => "at the counter",
            (Locale::En, Self::Phone) => "by telephone",
            (Locale::En, Self::Email) => "by e-mail",
            (Locale::En, Self::Other) => "another way",
        }
    }
}

stored_as_text!(Channel, "channel");

/// Why the requester may act for another person.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, AsExpression, FromSqlRow,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// A mandate signed by the person (its copy is required).
    Mandate,
    /// A parent of a minor.
    Parent,
    /// A guardian (tutelle, curatelle).
    Guardian,
}

impl Relation {
    pub const ALL: [Relation; 3] = [Relation::Mandate, Relation::Parent, Relation::Guardian];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mandate => "mandate",
            Self::Parent => "parent",
            Self::Guardian => "guardian",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn label(self, locale: Locale) -> &'static str {
        match (locale, self) {
            (Locale::Fr, Self::Mandate) => "mandataire",
            (Locale::Fr, Self::Parent) => "parent",
            (Locale::Fr, Self::Guardian) => "tuteur ou curateur",
            (Locale::En, Self::Mandate) => "mandatary",
            (Locale::En, Self::Parent) => "parent",
            (Locale::En, Self::Guardian) => "guardian",
        }
    }
}

stored_as_text!(Relation, "relation");

/// The person a request is made for, when it is not the requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OnBehalfOf {
    pub first_name: String,
    pub last_name: String,
    pub relation: Relation,
}

/// How far back staff may date a request's receipt.
pub const RECEIPT_MONTHS_BACK: u32 = 3;

/// Checks the date a request entered by staff was received: not in the
/// future (a minute's leeway for the clocks of the office's computers), not
/// older than `RECEIPT_MONTHS_BACK` months.
pub fn check_received_at(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), &'static str> {
    if at > now + Duration::minutes(1) {
        return Err("must not be in the future");
    }
    let oldest = now
        .checked_sub_months(Months::new(RECEIPT_MONTHS_BACK))
        .unwrap_or(now);
    if at < oldest {
        return Err("must be within the last three months");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receipt_is_dated_within_three_months_and_not_ahead() {
        let now: DateTime<Utc> = "2026-12-04T10:00:00Z".parse().unwrap();
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(check_received_at(at("2026-12-04T10:00:30Z"), now).is_ok());
        assert!(check_received_at(at("2026-09-04T10:00:00Z"), now).is_ok());
        assert_eq!(
            check_received_at(at("2026-09-04T09:59:59Z"), now),
            Err("must be within the last three months")
        );
        assert_eq!(
            check_received_at(at("2026-12-05T00:00:00Z"), now),
            Err("must not be in the future")
        );
    }

    #[test]
    fn every_channel_and_relation_reads_back() {
        for c in Channel::ALL {
            assert_eq!(Channel::parse(c.as_str()), Some(c));
        }
        for r in Relation::ALL {
            assert_eq!(Relation::parse(r.as_str()), Some(r));
        }
        assert_eq!(Channel::parse("pigeon"), None);
    }
}
