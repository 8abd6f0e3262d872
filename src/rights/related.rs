//! The requests a request is read with: the other requests of its case
//! (one submission, one request per right: « Demandes liées ») and the
//! other requests of the same person in the tenant (the same e-mail
//! address, by its pseudonym under any key held), open or closed.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::lifecycle::{Kind, Status};
use super::store::RequestRow;
use crate::db::schema::rights_requests as requests;
use crate::db::DbConnection;
use crate::privacy::email_pseudonyms;
use crate::secrets::Key;

/// How many of a person's other requests a detail lists.
pub const SAME_PERSON_SHOWN: i64 = 50;

/// Another request, as a detail links it.
#[derive(Debug, Clone, Serialize, ToSchema, Queryable)]
pub struct LinkedRequest {
    #[schema(format = "uuid")]
    pub id: String,
    #[schema(pattern = "^DR-[0-9A-HJKMNP-TV-Z]{6}$", example = "DR-7K3P2X")]
    pub reference: String,
    pub kind: Kind,
    pub status: Status,
    #[serde(serialize_with = "utc")]
    #[schema(value_type = DateTime<Utc>)]
    pub received_at: NaiveDateTime,
}

fn utc<S: serde::Serializer>(at: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    at.and_utc().serialize(s)
}

type Linked = (
    requests::id,
    requests::reference,
    requests::kind,
    requests::status,
    requests::received_at,
);

const LINKED: Linked = (
    requests::id,
    requests::reference,
    requests::kind,
    requests::status,
    requests::received_at,
);

/// Every request of a case, in the order they were made (the order of
/// the rights asked for).
pub fn case_rows(conn: &mut DbConnection, case_id: &str) -> QueryResult<Vec<RequestRow>> {
    requests::table
        .filter(requests::case_id.eq(case_id))
        .order(requests::id.asc())
        .select(RequestRow::as_select())
        .load(conn)
}

/// The other requests of a request's case.
pub fn case_of(conn: &mut DbConnection, row: &RequestRow) -> QueryResult<Vec<LinkedRequest>> {
    let Some(case_id) = &row.case_id else {
        return Ok(Vec::new());
    };
    requests::table
        .filter(requests::case_id.eq(case_id))
        .filter(requests::id.ne(&row.id))
        .order(requests::id.asc())
        .select(LINKED)
        .load(conn)
}

/// The pseudonyms a request's address had under every key held (none once
/// its requester's data were erased, or without an address).
pub fn pseudonyms_of(row: &RequestRow, keys: &[Key]) -> Vec<String> {
    match row.email.as_deref() {
        Some(email) => email_pseudonyms(keys.iter(), email),
        None => row.email_hash.iter().cloned().collect(),
    }
}

/// The person's other requests in the tenant, outside the request's own
/// case, latest first (at most `SAME_PERSON_SHOWN`).
pub fn same_person(
    conn: &mut DbConnection,
    row: &RequestRow,
    hashes: &[String],
) -> QueryResult<Vec<LinkedRequest>> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = requests::table
        .filter(requests::tenant_id.eq(&row.tenant_id))
        .filter(requests::email_hash.eq_any(hashes))
        .filter(requests::id.ne(&row.id))
        .into_boxed();
    if let Some(case_id) = &row.case_id {
        q = q.filter(
            requests::case_id
                .ne(case_id.clone())
                .or(requests::case_id.is_null()),
        );
    }
    q.order((requests::received_at.desc(), requests::id.desc()))
        .limit(SAME_PERSON_SHOWN)
        .select(LINKED)
        .load(conn)
}

/// How many requests each `(tenant, pseudonym)` has, for the rows of a
/// queue page.
pub fn counts_by_person(
    conn: &mut DbConnection,
    people: &[(String, String)],
) -> QueryResult<HashMap<(String, String), i64>> {
    let mut found = HashMap::new();
    let mut by_tenant: HashMap<&str, Vec<&str>> = HashMap::new();
    for (tenant, hash) in people {
        by_tenant.entry(tenant).or_default().push(hash);
    }
    for (tenant, hashes) in by_tenant {
        let counted: Vec<(Option<String>, i64)> = requests::table
            .filter(requests::tenant_id.eq(tenant))
            .filter(requests::email_hash.eq_any(hashes))
            .group_by(requests::email_hash)
            .select((requests::email_hash, diesel::dsl::count_star()))
            .load(conn)?;
        for (hash, n) in counted {
            if let Some(hash) = hash {
                found.insert((tenant.to_owned(), hash), n);
            }
        }
    }
    Ok(found)
}
