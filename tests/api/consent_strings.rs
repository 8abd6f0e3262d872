//! The strings consent events share (`consent_strings`), added by two
//! writers at the same moment: each string is kept once, both writers'
//! events refer to it, and neither fails nor waits on the other for ever.
//! On PostgreSQL the second writer is caught waiting on the first one's
//! uncommitted string before the first commits; on SQLite the writers take
//! turns on the month file.

use std::sync::mpsc;

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use guichet::consent::ConsentEvent;

use crate::common;
use crate::common::seed::tenant_id;

fn batch(tenant_id: &str, agent: &str, page: &str, n: usize) -> Vec<ConsentEvent> {
    let at = Utc::now().naive_utc();
    (0..n)
        .map(|i| ConsentEvent {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: tenant_id.to_owned(),
            subject_id: uuid::Uuid::new_v4().to_string(),
            event: "given".into(),
            policy_version: "2026-01".into(),
            choices: format!(r#"{{"audience":{},"essential":true}}"#, i % 2 == 0),
            gpc: false,
            at,
            expires_at: Some(at + chrono::Duration::days(395)),
            ip_pseudonym: Some(format!("{i:032x}")),
            user_agent: Some(agent.to_owned()),
            page_url: Some(page.to_owned()),
            tc_string: None,
            receipt: None,
        })
        .collect()
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn two_writers_adding_the_same_new_strings_keep_each_once_and_share_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = common::TestDatabase::create(dir.path());
    let settings = common::test_settings(dir.path(), &db);
    let manager = guichet::db::ConnectionManager::new(&settings.database).unwrap();
    let mut main = manager.open().unwrap();
    guichet::db::migrate::run_pending(&mut main).unwrap();
    guichet::tenants::sync(&mut main, &settings.tenants, Utc::now().naive_utc()).unwrap();
    let sevres = tenant_id(&mut main, "sevres");
    let store = guichet::consent::ConsentStore::open(
        guichet::db::Db::new(&settings.database).unwrap(),
        &settings.database,
    );
    // Strings no one has written yet: each writer must add them.
    let token = uuid::Uuid::new_v4().simple().to_string();
    let agent =
        format!("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 {token}");
    let page = format!("https://www.sevres.fr/{token}");
    let (first, second) = (
        batch(&sevres, &agent, &page, 20),
        batch(&sevres, &agent, &page, 20),
    );

    let (written, was_written) = mpsc::channel::<()>();
    let (go_on, may_go_on) = mpsc::channel::<()>();
    let (manager, store, first_batch, second_batch) = (&manager, &store, &first, &second);
    std::thread::scope(|s| {
        let a = s.spawn(move || {
            let mut conn = manager.open().unwrap();
            conn.transaction(|c| -> QueryResult<()> {
                store.insert_on(c, first_batch)?;
                // Written, not committed: the other writer comes now.
                written.send(()).unwrap();
                may_go_on.recv().unwrap();
                Ok(())
            })
        });
        was_written.recv().unwrap();
        let mut conn = manager.open().unwrap();
        let pid = db
            .is_postgres()
            .then(|| common::database::backend_pid(&mut conn));
        let b = s.spawn(move || conn.transaction(|c| store.insert_on(c, second_batch)));
        if let Some(pid) = pid {
            // The second writer reaches the first one's uncommitted strings
            // and waits on them (a row lock): the moment of the race.
            common::database::await_lock_wait(
                &mut manager.open().unwrap(),
                pid,
                "the second writer never waited on the first one's strings",
            );
        }
        go_on.send(()).unwrap();
        a.join().unwrap().expect("the first writer commits");
        b.join().unwrap().expect("the second writer commits");
    });

    if db.is_postgres() {
        #[derive(QueryableByName)]
        struct Kept {
            #[diesel(sql_type = Text)]
            value: String,
        }
        let kept: Vec<Kept> = diesel::sql_query(
            "SELECT value FROM consent_strings WHERE value IN ($1, $2) ORDER BY value",
        )
        .bind::<Text, _>(&agent)
        .bind::<Text, _>(&page)
        .load(&mut main)
        .unwrap();
        let values: Vec<&str> = kept.iter().map(|k| k.value.as_str()).collect();
        let mut expected = vec![agent.as_str(), page.as_str()];
        expected.sort();
        assert_eq!(values, expected, "each string kept once");
        let numbers = diesel::sql_query(
            "SELECT count(DISTINCT (user_agent, page_url))::bigint AS n FROM consent_events",
        )
        .get_result::<Count>(&mut main)
        .unwrap();
        assert_eq!(
            numbers.n, 1,
            "both writers' events refer to the same numbers"
        );
    }
    // Every event of both writers reads back whole, with its strings.
    for e in first.iter().chain(&second) {
        let history = store.history(&sevres, &e.subject_id, 10).await.unwrap();
        assert_eq!(history.len(), 1, "one event for {}", e.subject_id);
        let got = &history[0];
        assert_eq!(got.id, e.id);
        assert_eq!(got.user_agent.as_deref(), Some(agent.as_str()));
        assert_eq!(got.page_url.as_deref(), Some(page.as_str()));
        assert_eq!(got.choices(), e.choices());
    }
}
