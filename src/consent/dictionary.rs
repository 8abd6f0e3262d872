//! The strings many consent events share (`consent_strings`), each kept
//! once and referred to by its number: on PostgreSQL in the main database,
//! on SQLite in each month file (so that a file removed takes its strings
//! with it). A value is found by its SHA-256, whatever its length.
//!
//! A number, once given, never changes: a string is added, never updated.
//! Numbers are drawn for missing values only, so that the sequence of
//! PostgreSQL does not run through numbers for strings already there.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;
use sha2::{Digest, Sha256};

use crate::db::schema::consent_strings as strings;
use crate::db::DbConnection;
use crate::on_backend;

fn digest(value: &str) -> Vec<u8> {
    Sha256::digest(value.as_bytes()).to_vec()
}

/// The number of each value, added where missing (inside the caller's
/// transaction).
pub fn numbers(conn: &mut DbConnection, values: &[&str]) -> QueryResult<HashMap<String, i32>> {
    // By digest, in digest order: two writers add theirs in the same order.
    let wanted: BTreeMap<Vec<u8>, &str> = values.iter().map(|v| (digest(v), *v)).collect();
    let mut found = lookup(conn, wanted.keys().cloned().collect())?;
    let missing: Vec<(&Vec<u8>, &str)> = wanted
        .iter()
        .filter(|(d, _)| !found.contains_key(*d))
        .map(|(d, v)| (d, *v))
        .collect();
    if !missing.is_empty() {
        let digests = missing.iter().map(|(d, _)| (*d).clone()).collect();
        let rows: Vec<_> = missing
            .iter()
            .map(|(d, v)| (strings::digest.eq(*d), strings::value.eq(*v)))
            .collect();
        on_backend!(conn, |c| diesel::insert_into(strings::table)
            .values(&rows)
            .on_conflict(strings::digest)
            .do_nothing()
            .execute(c))?;
        found.extend(lookup(conn, digests)?);
    }
    wanted
        .into_iter()
        .map(|(d, v)| match found.get(&d) {
            Some(n) => Ok((v.to_owned(), *n)),
            None => Err(diesel::result::Error::NotFound),
        })
        .collect()
}

fn lookup(conn: &mut DbConnection, digests: Vec<Vec<u8>>) -> QueryResult<HashMap<Vec<u8>, i32>> {
    if digests.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i32, Vec<u8>)> = strings::table
        .filter(strings::digest.eq_any(digests))
        .select((strings::id, strings::digest))
        .load(conn)?;
    Ok(rows.into_iter().map(|(n, d)| (d, n)).collect())
}

/// The values of some numbers.
pub fn values(conn: &mut DbConnection, numbers: Vec<i32>) -> QueryResult<HashMap<i32, String>> {
    if numbers.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i32, String)> = strings::table
        .filter(strings::id.eq_any(numbers))
        .select((strings::id, strings::value))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Every value, by number: for reading a whole table of events.
pub fn all(conn: &mut DbConnection) -> QueryResult<HashMap<i32, String>> {
    let rows: Vec<(i32, String)> = strings::table
        .select((strings::id, strings::value))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
