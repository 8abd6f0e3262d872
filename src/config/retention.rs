//! How long each kind of record is kept: defaults for every tenant under
//! `[retention.periods]`, overridden per tenant under
//! `[tenants.SLUG.retention]`, and the checks both must pass.

use serde::{Deserialize, Serialize};

use crate::clock::Period;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Run sweeps inside `guichet serve` on `schedule`.
    pub scheduler: bool,
    /// When sweeps run: a cron expression (`minute hour day month weekday`,
    /// an optional leading seconds field), read in `timezone`.
    pub schedule: String,
    pub timezone: String,
    /// Records removed per transaction: short transactions keep the
    /// service answering while a sweep runs.
    pub batch_size: i64,
    /// Pause between two batches, in milliseconds, so that other writers
    /// get the database in between.
    pub batch_pause_ms: u64,
    /// Seconds between two looks of the scheduler at the schedule.
    pub tick_secs: u64,
    /// On PostgreSQL, months whose consent partition is made ahead of the
    /// current one (at start and by the scheduler).
    pub partition_months_ahead: u32,
    /// On PostgreSQL, how long attaching or detaching a month's partition
    /// waits for its lock on the consent table, in milliseconds (consents
    /// wait behind it meanwhile); a month not detached in time goes in
    /// batches.
    pub partition_lock_timeout_ms: u64,
    /// The periods of every tenant, unless it overrides them.
    pub periods: Periods,
}

/// The retention periods, each counted from the moment in its comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Periods {
    /// Raw consent records (identifier, choices, pseudonymised network), from when given.
    pub consent_records: Period,
    /// Identity documents of every kind of request but opposition, from closure.
    pub id_documents: Period,
    /// Identity documents of an opposition, from closure.
    pub id_documents_opposition: Period,
    /// The requester's name, e-mail, address and free texts, from closure.
    pub requester_data: Period,
    /// The same for an opposition, from closure.
    pub requester_data_opposition: Period,
    /// Suppression-list entries (opposition to prospection), from closure.
    pub suppression_list: Period,
    /// The staff connection journal, from the connection.
    pub staff_journal: Period,
    /// Copies of delivered e-mail (and of refused ones), from delivery (or queueing).
    pub delivered_mail: Period,
}

/// A tenant's departures from the defaults.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodOverrides {
    pub consent_records: Option<Period>,
    pub id_documents: Option<Period>,
    pub id_documents_opposition: Option<Period>,
    pub requester_data: Option<Period>,
    pub requester_data_opposition: Option<Period>,
    pub suppression_list: Option<Period>,
    pub staff_journal: Option<Period>,
    pub delivered_mail: Option<Period>,
}

/// The information needed to honour an opposition to prospection is kept
/// at least three years (the policies' "Durée de conservation").
pub const SUPPRESSION_FLOOR: Period = Period::months(36);

impl Periods {
    pub fn with(&self, o: &PeriodOverrides) -> Periods {
        Periods {
            consent_records: o.consent_records.unwrap_or(self.consent_records),
            id_documents: o.id_documents.unwrap_or(self.id_documents),
            id_documents_opposition: o
                .id_documents_opposition
                .unwrap_or(self.id_documents_opposition),
            requester_data: o.requester_data.unwrap_or(self.requester_data),
            requester_data_opposition: o
                .requester_data_opposition
                .unwrap_or(self.requester_data_opposition),
            suppression_list: o.suppression_list.unwrap_or(self.suppression_list),
            staff_journal: o.staff_journal.unwrap_or(self.staff_journal),
            delivered_mail: o.delivered_mail.unwrap_or(self.delivered_mail),
        }
    }

    /// Checks the periods of one tenant whose consents stay valid
    /// `validity_months`; the error names the field and why.
    pub fn check(&self, validity_months: u32) -> Result<(), (&'static str, String)> {
        let all = [
            ("consent_records", self.consent_records),
            ("id_documents", self.id_documents),
            ("id_documents_opposition", self.id_documents_opposition),
            ("requester_data", self.requester_data),
            ("requester_data_opposition", self.requester_data_opposition),
            ("suppression_list", self.suppression_list),
            ("staff_journal", self.staff_journal),
            ("delivered_mail", self.delivered_mail),
        ];
        for (field, p) in all {
            if !p.is_at_least(Period::days(1)) {
                return Err((field, "must be at least 1 day".into()));
            }
        }
        if !self.suppression_list.is_at_least(SUPPRESSION_FLOOR) {
            return Err((
                "suppression_list",
                format!(
                    "is {}, below the legal floor of 3 years: an opposition to prospection must be honoured at least that long",
                    self.suppression_list
                ),
            ));
        }
        if !self
            .consent_records
            .is_at_least(Period::months(validity_months))
        {
            return Err((
                "consent_records",
                format!(
                    "is {}, shorter than the consent validity ({validity_months} months): the proof of a valid consent would be gone",
                    self.consent_records
                ),
            ));
        }
        for (field, docs, data) in [
            ("id_documents", self.id_documents, self.requester_data),
            (
                "id_documents_opposition",
                self.id_documents_opposition,
                self.requester_data_opposition,
            ),
        ] {
            if !data.is_at_least(docs) {
                return Err((
                    field,
                    format!(
                        "is {docs}, longer than the requester's data it belongs to ({data}), which take the documents with them"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl RetentionSettings {
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Paris)
    }

    pub fn cron(&self) -> Result<croner::Cron, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(&self.schedule)
            .map_err(|e| e.to_string())
    }

    /// The checks of `[retention]`; the error names the key and why.
    pub fn check(&self) -> Result<(), (String, String)> {
        let key = |k: &str| format!("retention.{k}");
        self.cron().map_err(|e| {
            (
                key("schedule"),
                format!("is not a cron expression such as \"0 3 * * *\": {e}"),
            )
        })?;
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err((
                key("timezone"),
                "is not an IANA time zone such as Europe/Paris".into(),
            ));
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err((key("batch_size"), "must be between 1 and 10000".into()));
        }
        if !(1..=3600).contains(&self.tick_secs) {
            return Err((key("tick_secs"), "must be between 1 and 3600".into()));
        }
        self.periods
            .check(13)
            .map_err(|(field, why)| (key(&format!("periods.{field}")), why))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Periods {
        crate::config::Settings::embedded_defaults()
            .unwrap()
            .retention
            .periods
    }

    #[test]
    fn the_defaults_are_the_product_s() {
        let p = defaults();
        assert_eq!(p.consent_records, Period::months(13));
        assert_eq!(p.id_documents, Period::months(12));
        assert_eq!(p.id_documents_opposition, Period::months(36));
        assert_eq!(p.requester_data, Period::months(24));
        assert_eq!(p.requester_data_opposition, Period::months(36));
        assert_eq!(p.suppression_list, Period::months(36));
        assert_eq!(p.staff_journal, Period::months(12));
        assert_eq!(p.delivered_mail, Period::days(30));
        assert_eq!(p.check(13), Ok(()));
    }

    #[test]
    fn a_suppression_list_below_three_years_is_refused() {
        let p = defaults().with(&PeriodOverrides {
            suppression_list: Some("2 years".parse().unwrap()),
            ..Default::default()
        });
        let (field, why) = p.check(13).unwrap_err();
        assert_eq!(field, "suppression_list");
        assert!(why.contains("3 years"), "{why}");
        let longer = defaults().with(&PeriodOverrides {
            suppression_list: Some("5 years".parse().unwrap()),
            ..Default::default()
        });
        assert_eq!(longer.check(13), Ok(()));
    }

    #[test]
    fn consent_proofs_outlive_the_consent() {
        let p = defaults().with(&PeriodOverrides {
            consent_records: Some("6 months".parse().unwrap()),
            ..Default::default()
        });
        assert_eq!(p.check(13).unwrap_err().0, "consent_records");
        assert_eq!(p.check(6), Ok(()));
    }

    #[test]
    fn documents_do_not_outlive_their_request() {
        let p = defaults().with(&PeriodOverrides {
            id_documents: Some("3 years".parse().unwrap()),
            ..Default::default()
        });
        assert_eq!(p.check(13).unwrap_err().0, "id_documents");
    }
}
