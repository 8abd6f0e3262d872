//! The tables of one database copied into another, whichever their
//! backends (`guichet copy`): each table's columns are read from the live
//! source, each value travels as its column's kind (text, boolean,
//! integer, instant, bytes) and is bound as that kind on the target, a row
//! at a time, in constant memory.
//!
//! [`TABLES`] names every table of the schema in an order that respects the
//! foreign keys; a table the database has and the list does not stops the
//! copy ([`check_known`]), so that a new table cannot be forgotten. The
//! consent events are not copied here: on SQLite they live in month files
//! (`consent::transfer` moves them).

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text, Timestamp};

use super::DbConnection;

/// A table copied as it is.
#[derive(Debug, Clone, Copy)]
pub struct TableSpec {
    pub name: &'static str,
    /// Columns that may name another row of the same table: copied in a
    /// second pass, once every row is there.
    pub later: &'static [&'static str],
    /// The column that identifies a row (for the second pass).
    pub key: &'static str,
    /// Its row count is compared between source and target (a table whose
    /// rows the copy may merge, as the daily counts, is compared otherwise).
    pub counted: bool,
}

const fn table(name: &'static str) -> TableSpec {
    TableSpec {
        name,
        later: &[],
        key: "id",
        counted: true,
    }
}

/// Every table of the schema but the consent events, parents first.
pub const TABLES: &[TableSpec] = &[
    table("tenants"),
    table("staff_users"),
    table("staff_tenants"),
    table("login_locks"),
    table("staff_revoked_tokens"),
    table("audit_events"),
    table("consent_policy_versions"),
    table("consent_idempotency"),
    table("consent_file_folds"),
    TableSpec {
        counted: false,
        ..table("consent_daily_counts")
    },
    table("mail_outbox"),
    TableSpec {
        later: &["duplicate_of"],
        ..table("rights_requests")
    },
    table("request_documents"),
    table("request_events"),
    table("request_messages"),
    table("request_assignments"),
    table("request_notes"),
    table("suppression_list"),
    table("tracking_tokens"),
    table("scheduled_runs"),
    table("request_counts"),
    table("request_due_days"),
    table("request_words"),
    table("retention_runs"),
];

/// Tables the copy knows but does not copy here: the consent events go
/// through `consent::transfer`, which writes the strings they share into
/// the target's own `consent_strings` (numbered there); on PostgreSQL the
/// target's `consent_month_counts` count them as they are written.
pub const ELSEWHERE: &[&str] = &["consent_events", "consent_strings", "consent_month_counts"];

/// What the instances serving a database keep among themselves, not data:
/// neither copied nor counted.
pub const SERVING: &[&str] = &["consent_lease"];

/// Why a copy stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
    #[error("{0}")]
    Refused(String),
}

/// How a column's values travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Bool,
    Integer,
    BigInt,
    Timestamp,
    Binary,
}

impl Kind {
    /// The kind of a declared type (SQLite's, or PostgreSQL's
    /// `information_schema` name).
    pub fn of_type(declared: &str) -> Option<Self> {
        let t = declared.to_ascii_uppercase();
        Some(if t.contains("BOOL") {
            Self::Bool
        } else if t.contains("TIMESTAMP") {
            Self::Timestamp
        } else if t.contains("BIGINT") {
            Self::BigInt
        } else if t.contains("INT") {
            Self::Integer
        } else if t.contains("BLOB") || t.contains("BYTEA") {
            Self::Binary
        } else if t.contains("TEXT") || t.contains("CHAR") {
            Self::Text
        } else {
            return None;
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub kind: Kind,
}

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    declared: String,
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = Text)]
    j: String,
}

/// The tables of the database (its own schema on PostgreSQL), but
/// diesel's record of migrations.
pub fn tables(conn: &mut DbConnection) -> QueryResult<Vec<String>> {
    let sql = match conn {
        // Tables, partitioned ones among them, not their partitions (the
        // consent events' months, read and written through their table).
        DbConnection::Pg(_) => {
            "SELECT CAST(c.relname AS TEXT) AS name FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             AND NOT c.relispartition"
        }
        DbConnection::Sqlite(_) => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
    };
    let mut names: Vec<String> = diesel::sql_query(sql)
        .load::<NameRow>(conn)?
        .into_iter()
        .map(|r| r.name)
        .filter(|n| n != "__diesel_schema_migrations")
        .collect();
    names.sort();
    Ok(names)
}

/// Fails naming a table the database has and the copy does not know.
pub fn check_known(conn: &mut DbConnection) -> Result<(), TransferError> {
    for name in tables(conn)? {
        if !is_known(&name) {
            return Err(TransferError::Refused(format!(
                "the database has a table `{name}` that this version of guichet does not know how to copy"
            )));
        }
    }
    Ok(())
}

/// The table's columns, in their order, with their kinds.
pub fn columns(conn: &mut DbConnection, table: &str) -> Result<Vec<Column>, TransferError> {
    let rows: Vec<ColumnRow> = match conn {
        DbConnection::Pg(_) => diesel::sql_query(
            "SELECT CAST(column_name AS TEXT) AS name, CAST(data_type AS TEXT) AS declared \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table)
        .load(conn)?,
        DbConnection::Sqlite(_) => diesel::sql_query(
            "SELECT name, type AS declared FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind::<Text, _>(table)
        .load(conn)?,
    };
    rows.into_iter()
        .map(|r| match Kind::of_type(&r.declared) {
            Some(kind) => Ok(Column { name: r.name, kind }),
            None => Err(TransferError::Refused(format!(
                "column {table}.{} has a type the copy does not know ({})",
                r.name, r.declared
            ))),
        })
        .collect()
}

/// How many rows the table holds.
pub fn count(conn: &mut DbConnection, table: &str) -> QueryResult<i64> {
    diesel::sql_query(format!("SELECT COUNT(*) AS n FROM \"{table}\""))
        .get_result::<CountRow>(conn)
        .map(|r| r.n)
}

fn is_known(name: &str) -> bool {
    TABLES.iter().any(|t| t.name == name) || ELSEWHERE.contains(&name) || SERVING.contains(&name)
}

/// The tables of the schema that hold rows in the database, with their
/// counts (none when it has not been migrated yet).
pub fn nonempty(conn: &mut DbConnection) -> QueryResult<Vec<(String, i64)>> {
    let mut out = Vec::new();
    let counted = |n: &String| is_known(n) && !SERVING.contains(&n.as_str());
    for name in tables(conn)?.into_iter().filter(counted) {
        let n = count(conn, &name)?;
        if n > 0 {
            out.push((name, n));
        }
    }
    Ok(out)
}

/// A value on its way, as its column's kind reads it.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// No value, in a column of this kind.
    Null(Kind),
    Text(String),
    Bool(bool),
    Integer(i32),
    BigInt(i64),
    Timestamp(NaiveDateTime),
    Binary(Vec<u8>),
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One row of the table as a JSON array, whichever the backend: bytes in
/// hexadecimal, instants as text.
fn select_sql(conn: &DbConnection, table: &str, cols: &[Column]) -> String {
    let pg = matches!(conn, DbConnection::Pg(_));
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| {
            let q = quote(&c.name);
            match (c.kind, pg) {
                (Kind::Binary, true) => format!("encode({q}, 'hex')"),
                (Kind::Binary, false) => {
                    format!("CASE WHEN {q} IS NULL THEN NULL ELSE hex({q}) END")
                }
                (Kind::Timestamp, true) => format!("to_char({q}, 'YYYY-MM-DD HH24:MI:SS.US')"),
                _ => q,
            }
        })
        .collect();
    if pg {
        format!(
            "SELECT CAST(json_build_array({}) AS TEXT) AS j FROM {}",
            exprs.join(", "),
            quote(table)
        )
    } else {
        format!(
            "SELECT json_array({}) AS j FROM {}",
            exprs.join(", "),
            quote(table)
        )
    }
}

fn parse_instant(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim_end_matches('Z');
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The value of a JSON field, as the column's kind reads it.
fn value(kind: Kind, v: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match (kind, v) {
        (_, J::Null) => Value::Null(kind),
        (Kind::Text, J::String(s)) => Value::Text(s.clone()),
        (Kind::Text, J::Number(n)) => Value::Text(n.to_string()),
        (Kind::Bool, J::Bool(b)) => Value::Bool(*b),
        (Kind::Bool, J::Number(n)) => Value::Bool(n.as_i64()? != 0),
        (Kind::Integer, J::Number(n)) => Value::Integer(i32::try_from(n.as_i64()?).ok()?),
        (Kind::BigInt, J::Number(n)) => Value::BigInt(n.as_i64()?),
        (Kind::Timestamp, J::String(s)) => Value::Timestamp(parse_instant(s)?),
        (Kind::Binary, J::String(s)) => Value::Binary(unhex(s)?),
        _ => return None,
    })
}

fn decode(table: &str, cols: &[Column], json: &str) -> Result<Vec<Value>, TransferError> {
    let bad = |what: String| TransferError::Refused(format!("table {table}: {what}"));
    let fields: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| bad(format!("unreadable row: {e}")))?;
    if fields.len() != cols.len() {
        return Err(bad("a row of the wrong width".into()));
    }
    cols.iter()
        .zip(&fields)
        .map(|(c, f)| value(c.kind, f).ok_or_else(|| bad(format!("column {} holds {f}", c.name))))
        .collect()
}

/// Runs `sql` with `values` bound in order, on either backend.
fn execute(conn: &mut DbConnection, sql: &str, values: Vec<Value>) -> QueryResult<usize> {
    macro_rules! run {
        ($c:expr, $db:ty) => {{
            let mut q = diesel::sql_query(sql).into_boxed::<$db>();
            for v in values {
                q = match v {
                    Value::Null(Kind::Text) => q.bind::<Nullable<Text>, _>(None::<String>),
                    Value::Null(Kind::Bool) => q.bind::<Nullable<Bool>, _>(None::<bool>),
                    Value::Null(Kind::Integer) => q.bind::<Nullable<Integer>, _>(None::<i32>),
                    Value::Null(Kind::BigInt) => q.bind::<Nullable<BigInt>, _>(None::<i64>),
                    Value::Null(Kind::Timestamp) => {
                        q.bind::<Nullable<Timestamp>, _>(None::<NaiveDateTime>)
                    }
                    Value::Null(Kind::Binary) => q.bind::<Nullable<Binary>, _>(None::<Vec<u8>>),
                    Value::Text(s) => q.bind::<Text, _>(s),
                    Value::Bool(b) => q.bind::<Bool, _>(b),
                    Value::Integer(n) => q.bind::<Integer, _>(n),
                    Value::BigInt(n) => q.bind::<BigInt, _>(n),
                    Value::Timestamp(t) => q.bind::<Timestamp, _>(t),
                    Value::Binary(b) => q.bind::<Binary, _>(b),
                };
            }
            q.execute($c)
        }};
    }
    match conn {
        DbConnection::Pg(c) => run!(c, diesel::pg::Pg),
        DbConnection::Sqlite(c) => run!(c, diesel::sqlite::Sqlite),
    }
}

/// The placeholders of `n` values on the connection's backend.
fn placeholders(conn: &DbConnection, n: usize) -> Vec<String> {
    let pg = matches!(conn, DbConnection::Pg(_));
    (1..=n)
        .map(|i| if pg { format!("${i}") } else { "?".to_owned() })
        .collect()
}

/// Copies every row of `spec`'s table from `from` to `to`, a row at a
/// time; answers how many rows were copied. Runs inside the callers'
/// transactions.
pub fn copy_table(
    from: &mut DbConnection,
    to: &mut DbConnection,
    spec: &TableSpec,
) -> Result<i64, TransferError> {
    let cols = columns(from, spec.name)?;
    let target_cols = columns(to, spec.name)?;
    if target_cols != cols {
        return Err(TransferError::Refused(format!(
            "table {} differs between the two databases (are they at the same migration?)",
            spec.name
        )));
    }
    let now: Vec<&Column> = cols
        .iter()
        .filter(|c| !spec.later.contains(&c.name.as_str()))
        .collect();
    let insert = format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(spec.name),
        now.iter()
            .map(|c| quote(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        placeholders(to, now.len()).join(", ")
    );
    let key_at = cols.iter().position(|c| c.name == spec.key);
    let select = select_sql(from, spec.name, &cols);
    let mut pending: Vec<(usize, Value, Value)> = Vec::new();
    let mut copied = 0i64;
    let mut each = |json: String| -> Result<(), TransferError> {
        let row = decode(spec.name, &cols, &json)?;
        let mut values = Vec::with_capacity(now.len());
        for (i, (c, v)) in cols.iter().zip(row.iter()).enumerate() {
            if spec.later.contains(&c.name.as_str()) {
                if !matches!(v, Value::Null(_)) {
                    let key = key_at
                        .map(|k| row[k].clone())
                        .unwrap_or(Value::Null(Kind::Text));
                    pending.push((i, key, v.clone()));
                }
            } else {
                values.push(v.clone());
            }
        }
        execute(to, &insert, values)?;
        copied += 1;
        Ok(())
    };
    match from {
        DbConnection::Pg(c) => {
            for row in diesel::sql_query(&select)
                .load_iter::<JsonRow, diesel::pg::PgRowByRowLoadingMode>(c)?
            {
                each(row?.j)?;
            }
        }
        DbConnection::Sqlite(c) => {
            for row in diesel::sql_query(&select)
                .load_iter::<JsonRow, diesel::connection::DefaultLoadingMode>(c)?
            {
                each(row?.j)?;
            }
        }
    }
    for (i, key, v) in pending {
        let marks = placeholders(to, 2);
        let sql = format!(
            "UPDATE {} SET {} = {} WHERE {} = {}",
            quote(spec.name),
            quote(&cols[i].name),
            marks[0],
            quote(spec.key),
            marks[1]
        );
        execute(to, &sql, vec![v, key])?;
    }
    Ok(copied)
}

/// Opens a read transaction on the source that sees one instant of it
/// throughout the copy.
pub fn begin_snapshot(conn: &mut DbConnection) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(c) => c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        // A deferred transaction: its snapshot is taken at the first read.
        DbConnection::Sqlite(c) => c.batch_execute("BEGIN"),
    }
}

/// Ends the read transaction of [`begin_snapshot`].
pub fn end_snapshot(conn: &mut DbConnection) -> QueryResult<()> {
    conn.batch_execute("COMMIT")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrated() -> (tempfile::TempDir, DbConnection) {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = crate::config::Settings::embedded_defaults().unwrap();
        settings.database.url = format!("sqlite://{}", dir.path().join("g.db").display()).into();
        let mut conn = crate::db::ConnectionManager::new(&settings.database)
            .unwrap()
            .open()
            .unwrap();
        crate::db::migrate::run_pending(&mut conn).unwrap();
        (dir, conn)
    }

    #[test]
    fn every_table_of_the_schema_is_copied_or_known_and_every_column_has_a_kind() {
        let (_dir, mut conn) = migrated();
        check_known(&mut conn).unwrap();
        let live = tables(&mut conn).unwrap();
        for spec in TABLES {
            assert!(
                live.contains(&spec.name.to_owned()),
                "{} is gone",
                spec.name
            );
            let cols = columns(&mut conn, spec.name).unwrap();
            for later in spec.later {
                assert!(cols.iter().any(|c| c.name == *later), "{later}");
            }
            if !spec.later.is_empty() {
                assert!(cols.iter().any(|c| c.name == spec.key));
            }
        }
        // A table the list forgets stops the copy.
        conn.batch_execute("CREATE TABLE forgotten (id TEXT)")
            .unwrap();
        let err = check_known(&mut conn).unwrap_err().to_string();
        assert!(err.contains("`forgotten`"), "{err}");
    }

    #[test]
    fn values_keep_their_kind_whichever_backend_wrote_them() {
        let at = parse_instant("2026-03-02 09:30:00.123456").unwrap();
        assert_eq!(parse_instant("2026-03-02T09:30:00.123456"), Some(at));
        assert_eq!(
            value(Kind::Timestamp, &serde_json::json!("2026-03-02 09:30:00")),
            Some(Value::Timestamp(
                parse_instant("2026-03-02T09:30:00").unwrap()
            ))
        );
        assert_eq!(
            value(Kind::Bool, &serde_json::json!(1)),
            Some(Value::Bool(true))
        );
        assert_eq!(
            value(Kind::Bool, &serde_json::json!(false)),
            Some(Value::Bool(false))
        );
        assert_eq!(
            value(Kind::Binary, &serde_json::json!("00ff10")),
            Some(Value::Binary(vec![0, 255, 16]))
        );
        assert_eq!(value(Kind::Binary, &serde_json::json!("0")), None);
        assert_eq!(
            value(Kind::Integer, &serde_json::json!(1i64 << 40)),
            None,
            "out of range"
        );
        assert_eq!(
            value(Kind::Text, &serde_json::Value::Null),
            Some(Value::Null(Kind::Text))
        );
        assert_eq!(
            Kind::of_type("timestamp without time zone"),
            Some(Kind::Timestamp)
        );
        assert_eq!(Kind::of_type("BIGINT"), Some(Kind::BigInt));
        assert_eq!(Kind::of_type("bytea"), Some(Kind::Binary));
        assert_eq!(Kind::of_type("BOOLEAN"), Some(Kind::Bool));
        assert_eq!(Kind::of_type("REAL"), None);
    }

    #[test]
    fn a_table_goes_row_for_row_with_its_self_references_and_bytes() {
        let (_a, mut from) = migrated();
        let (_b, mut to) = migrated();
        from.batch_execute(
            "INSERT INTO tenants (id, slug, name, dpo_email, postal_address, locale, \
             require_id_document, allowed_origins, consent_policy, active, created_at, updated_at) \
             VALUES ('t1', 'sevres', 'Sèvres', 'dpo@x', 'addr', 'fr', 1, '[]', '{}', 1, \
             '2026-03-02 09:30:00.5', '2026-03-02 09:30:00');",
        )
        .unwrap();
        let spec = TABLES.iter().find(|t| t.name == "tenants").unwrap();
        assert_eq!(copy_table(&mut from, &mut to, spec).unwrap(), 1);
        #[derive(QueryableByName, PartialEq, Debug)]
        struct T {
            #[diesel(sql_type = Text)]
            name: String,
            #[diesel(sql_type = Bool)]
            require_id_document: bool,
            #[diesel(sql_type = Timestamp)]
            created_at: NaiveDateTime,
        }
        let q = "SELECT name, require_id_document, created_at FROM tenants";
        let a: Vec<T> = diesel::sql_query(q).load(&mut from).unwrap();
        let b: Vec<T> = diesel::sql_query(q).load(&mut to).unwrap();
        assert_eq!(a, b);
        assert_eq!(b[0].name, "Sèvres");
    }
}
