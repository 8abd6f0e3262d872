//! Compact column types, for the tables that hold tens of millions of rows
//! (the consent events): what the Rust code handles as text or as an
//! instant is kept in fewer bytes, the same way on both backends.
//! - `Uuid16`: a UUID handled as its hyphenated text, kept as 16 bytes
//!   (PostgreSQL `uuid`, SQLite blob). Bytes sort as the text does.
//! - `Hex16`: a pseudonym handled as lower-case hex, kept as its bytes
//!   (PostgreSQL `bytea`, SQLite blob).
//! - `Instant`: a UTC instant, PostgreSQL `timestamp`, SQLite integer
//!   microseconds since 1970 (8 bytes, where text takes 26). Integers sort
//!   as the instants do.

use std::io::Write;

use chrono::{DateTime, NaiveDateTime};
use diesel::deserialize::{self, FromSql};
use diesel::internal::derives::as_expression::Bound;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::{BigInt, Binary, HasSqlType, Nullable, Timestamp};
use diesel::sqlite::{Sqlite, SqliteValue};

use super::MultiBackend;

#[derive(
    Debug, Clone, Copy, Default, diesel::query_builder::QueryId, diesel::sql_types::SqlType,
)]
#[diesel(postgres_type(oid = 2950, array_oid = 2951))]
#[diesel(sqlite_type(name = "Binary"))]
pub struct Uuid16;

#[derive(
    Debug, Clone, Copy, Default, diesel::query_builder::QueryId, diesel::sql_types::SqlType,
)]
#[diesel(postgres_type(oid = 17, array_oid = 1001))]
#[diesel(sqlite_type(name = "Binary"))]
pub struct Hex16;

#[derive(
    Debug, Clone, Copy, Default, diesel::query_builder::QueryId, diesel::sql_types::SqlType,
)]
#[diesel(postgres_type(oid = 1114, array_oid = 1115))]
#[diesel(sqlite_type(name = "Long"))]
pub struct Instant;

fn uuid_bytes(text: &str) -> Result<[u8; 16], Box<dyn std::error::Error + Send + Sync>> {
    Ok(*uuid::Uuid::parse_str(text)?.as_bytes())
}

fn uuid_text(bytes: &[u8]) -> deserialize::Result<String> {
    let id = uuid::Uuid::from_slice(bytes)?;
    Ok(id
        .hyphenated()
        .encode_lower(&mut uuid::Uuid::encode_buffer())
        .to_owned())
}

fn hex_bytes(text: &str) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    hex::decode(text).map_err(|e| format!("{e}: {text:?}").into())
}

fn sqlite_instant(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<NaiveDateTime> {
    let micros = <i64 as FromSql<BigInt, Sqlite>>::from_sql(value)?;
    DateTime::from_timestamp_micros(micros)
        .map(|d| d.naive_utc())
        .ok_or_else(|| format!("an instant out of range: {micros}").into())
}

// PostgreSQL.

impl ToSql<Uuid16, Pg> for String {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&uuid_bytes(self)?)?;
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid16, Pg> for String {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        uuid_text(value.as_bytes())
    }
}

impl ToSql<Hex16, Pg> for String {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        out.write_all(&hex_bytes(self)?)?;
        Ok(IsNull::No)
    }
}

impl FromSql<Hex16, Pg> for String {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(hex::encode(value.as_bytes()))
    }
}

impl ToSql<Instant, Pg> for NaiveDateTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDateTime as ToSql<Timestamp, Pg>>::to_sql(self, out)
    }
}

impl FromSql<Instant, Pg> for NaiveDateTime {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value)
    }
}

// SQLite.

impl ToSql<Uuid16, Sqlite> for String {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(uuid_bytes(self)?.to_vec());
        Ok(IsNull::No)
    }
}

impl FromSql<Uuid16, Sqlite> for String {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        uuid_text(&<Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(value)?)
    }
}

impl ToSql<Hex16, Sqlite> for String {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(hex_bytes(self)?);
        Ok(IsNull::No)
    }
}

impl FromSql<Hex16, Sqlite> for String {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        Ok(hex::encode(
            &<Vec<u8> as FromSql<Binary, Sqlite>>::from_sql(value)?,
        ))
    }
}

impl ToSql<Instant, Sqlite> for NaiveDateTime {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        out.set_value(self.and_utc().timestamp_micros());
        Ok(IsNull::No)
    }
}

impl FromSql<Instant, Sqlite> for NaiveDateTime {
    fn from_sql(value: SqliteValue<'_, '_, '_>) -> deserialize::Result<Self> {
        sqlite_instant(value)
    }
}

/// What the connection over both backends needs of a column type handled
/// as the Rust type `$rust`.
macro_rules! column_type {
    ($sql:ident, $rust:ty) => {
        impl HasSqlType<$sql> for MultiBackend {
            fn metadata(lookup: &mut Self::MetadataLookup) -> Self::TypeMetadata {
                MultiBackend::lookup_sql_type::<$sql>(lookup)
            }
        }

        impl FromSql<$sql, MultiBackend> for $rust {
            fn from_sql(
                bytes: <MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                bytes.from_sql::<Self, $sql>()
            }
        }

        impl ToSql<$sql, MultiBackend> for $rust {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
                out.set_value(($sql, self));
                Ok(IsNull::No)
            }
        }
    };
}

column_type!(Uuid16, String);
column_type!(Hex16, String);
column_type!(Instant, NaiveDateTime);

// Values bound to these columns in a query (read back, they come as their
// Rust types).

/// A UUID, given as text.
pub fn uuid(text: impl Into<String>) -> Bound<Uuid16, String> {
    Bound::new(text.into())
}

/// A UUID given as text, among others (`eq_any` binds values, not
/// expressions).
#[derive(Debug, Clone, diesel::expression::AsExpression)]
#[diesel(sql_type = Uuid16)]
pub struct UuidText(String);

impl ToSql<Uuid16, Pg> for UuidText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <String as ToSql<Uuid16, Pg>>::to_sql(&self.0, out)
    }
}

impl ToSql<Uuid16, Sqlite> for UuidText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Sqlite>) -> serialize::Result {
        <String as ToSql<Uuid16, Sqlite>>::to_sql(&self.0, out)
    }
}

impl ToSql<Uuid16, MultiBackend> for UuidText {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, MultiBackend>) -> serialize::Result {
        out.set_value((Uuid16, self));
        Ok(IsNull::No)
    }
}

/// UUIDs, given as text.
pub fn uuids<T: Into<String>>(texts: impl IntoIterator<Item = T>) -> Vec<UuidText> {
    texts.into_iter().map(|t| UuidText(t.into())).collect()
}

/// A pseudonym or none, given as hex.
pub fn hex(text: Option<String>) -> Bound<Nullable<Hex16>, Option<String>> {
    Bound::new(text)
}

/// An instant.
pub fn instant(at: NaiveDateTime) -> Bound<Instant, NaiveDateTime> {
    Bound::new(at)
}

/// An instant or none.
pub fn instant_or_null(
    at: Option<NaiveDateTime>,
) -> Bound<Nullable<Instant>, Option<NaiveDateTime>> {
    Bound::new(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_bytes_go_both_ways() {
        let id = "0190f3a4-5b6c-7d8e-9fa0-b1c2d3e4f5a6";
        assert_eq!(uuid_text(&uuid_bytes(id).unwrap()).unwrap(), id);
        assert!(uuid_bytes("not a uuid").is_err());
        let pseudonym = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        assert_eq!(hex::encode(hex_bytes(pseudonym).unwrap()), pseudonym);
        assert!(hex_bytes("0g").is_err());
        assert!(hex_bytes("abc").is_err());
    }
}
