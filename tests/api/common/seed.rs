//! Old data for a sweep to remove, written straight into the tables, and
//! the check that a sweep stopped anywhere left no record half removed.

use std::path::Path;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use guichet::consent::{ConsentEvent, ConsentStore};
use guichet::db::schema::{request_documents, rights_requests, tenants};
use guichet::db::DbConnection;
use guichet::rights::store::{DocumentRow, RequestRow};

pub fn tenant_id(conn: &mut DbConnection, slug: &str) -> String {
    tenants::table
        .filter(tenants::slug.eq(slug))
        .select(tenants::id)
        .first(conn)
        .unwrap()
}

fn days_ago(n: i64) -> NaiveDateTime {
    (Utc::now() - chrono::Duration::days(n)).naive_utc()
}

/// The consent store of a database, as a command would open it.
pub fn store(url: &str) -> ConsentStore {
    let mut settings = guichet::config::Settings::embedded_defaults().unwrap();
    settings.database.url = url.into();
    let db = guichet::db::Db::new(&settings.database).unwrap();
    ConsentStore::open(db, &settings.database)
}

/// `n` consents given `age_days` ago, stored where the service keeps them.
pub fn consents(conn: &mut DbConnection, url: &str, tenant: &str, n: usize, age_days: i64) {
    let at = days_ago(age_days);
    let rows: Vec<ConsentEvent> = (0..n)
        .map(|i| ConsentEvent {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant.to_owned(),
            subject_id: uuid::Uuid::new_v4().to_string(),
            event: "given".into(),
            policy_version: "2026-01".into(),
            choices: r#"{"essential":true}"#.into(),
            gpc: false,
            at: at + chrono::Duration::milliseconds(i as i64),
            expires_at: None,
            ip_pseudonym: None,
            user_agent: None,
            page_url: None,
            tc_string: None,
            receipt: None,
        })
        .collect();
    let store = store(url);
    for chunk in rows.chunks(1000) {
        store.insert_on(conn, chunk).unwrap();
    }
}

/// How many consent events are kept, wherever they are.
pub fn count_consents(conn: &mut DbConnection, url: &str) -> i64 {
    store(url).count_on(conn, None).unwrap()
}

/// The ids of every consent event kept.
pub fn consent_ids(conn: &mut DbConnection, url: &str) -> Vec<String> {
    store(url)
        .all_on(conn, None)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

/// `n` access requests closed `age_days` ago, each with a document sealed
/// under the document key of `data_dir` (generated there when missing, as
/// the service does at start).
pub fn closed_requests(
    conn: &mut DbConnection,
    data_dir: &Path,
    tenant: &str,
    n: usize,
    age_days: i64,
) {
    let secrets = guichet::secrets::Secrets::load(
        &Default::default(),
        data_dir,
        &guichet::config::Environment::Test,
    )
    .unwrap();
    let ring = guichet::rights::documents::KeyRing::new(&secrets.document, &[]);
    let closed = days_ago(age_days);
    guichet::db::write_transaction(conn, |conn| -> QueryResult<()> {
        for i in 0..n {
            let id = uuid::Uuid::now_v7().to_string();
            let row = RequestRow {
                id: id.clone(),
                tenant_id: tenant.to_owned(),
                reference: format!("DR-K{i:05}"),
                kind: guichet::rights::lifecycle::Kind::Access,
                status: guichet::rights::lifecycle::Status::Completed,
                is_open: false,
                first_name: Some("Zoé".into()),
                last_name: Some("Lefèvre".into()),
                email: Some(format!("old{i}@example.org")),
                email_hash: Some(format!("hash{i}")),
                postal_address: None,
                details: Some("SECRET-DETAILS".into()),
                scope: None,
                grounds: None,
                search_text: Some("zoé lefèvre".into()),
                received_at: closed - chrono::Duration::days(10),
                due_at: closed + chrono::Duration::days(20),
                paused_at: None,
                extended: false,
                extension_reason: None,
                closed_at: Some(closed),
                outcome_reason: None,
                duplicate_of: None,
                erased_at: None,
                updated_at: closed,
                subject_ids: None,
                identity_outcome: None,
                identity_method: None,
                identity_at: None,
                identity_by: None,
                identity_note: None,
                new_document_at: None,
                channel: guichet::rights::arrival::Channel::Web,
                case_id: None,
                on_behalf_first_name: None,
                on_behalf_last_name: None,
                on_behalf_relation: None,
            };
            guichet::rights::store::insert(conn, &row)?;
            let document_id = uuid::Uuid::now_v7().to_string();
            let content = b"%PDF-1.4\n%%EOF\n";
            let mut sealed = content.to_vec();
            let (key_id, nonce) = ring.seal(&document_id, &mut sealed).unwrap();
            guichet::rights::store::insert_document(
                conn,
                &DocumentRow {
                    id: document_id,
                    request_id: id,
                    filename: "carte.pdf".into(),
                    content_type: "application/pdf".into(),
                    size: content.len() as i64,
                    sha256: guichet::rights::documents::sha256_hex(content),
                    key_id,
                    nonce,
                    ciphertext: Some(sealed),
                    uploaded_at: closed - chrono::Duration::days(10),
                    purged_at: None,
                    role: guichet::rights::lifecycle::Role::IdDocument,
                    message_id: None,
                },
            )?;
        }
        Ok(())
    })
    .unwrap();
}

/// Requests are either untouched or wholly erased, and every document
/// either has its content or says when it lost it.
pub fn assert_swept_consistently(conn: &mut DbConnection) {
    type Row = (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<NaiveDateTime>,
    );
    let requests: Vec<Row> = rights_requests::table
        .select((
            rights_requests::first_name,
            rights_requests::email,
            rights_requests::details,
            rights_requests::erased_at,
        ))
        .load(conn)
        .unwrap();
    for (name, email, details, erased) in requests {
        for kept in [&name, &email, &details] {
            assert_eq!(kept.is_some(), erased.is_none(), "a request half erased");
        }
    }
    let docs: Vec<(bool, Option<NaiveDateTime>)> = request_documents::table
        .select((
            request_documents::ciphertext.is_not_null(),
            request_documents::purged_at,
        ))
        .load(conn)
        .unwrap();
    for (held, purged) in docs {
        assert_eq!(held, purged.is_none(), "a document row pointing at nothing");
    }
}
