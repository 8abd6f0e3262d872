//! The DPO's queue: the overdue total as the clock moves and requests
//! pause, resume, get extended and close; the search by reference, e-mail
//! and names, whatever the case and accents, within the DPO's tenant.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use crate::common::{create_staff, login, SmtpServer, TestApp, PASSWORD};
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
const DPO: &str = "protection.donnees@cud.fr";

async fn submit(app: &TestApp, tenant: &str, first: &str, last: &str, email: &str) -> Value {
    let mut form = Form::new();
    for (k, v) in [
        ("kind", "access"),
        ("first_name", first),
        ("last_name", last),
        ("email", email),
        ("details", "Une copie de mes données, s'il vous plaît."),
    ] {
        form = form.text(k, v.to_owned());
    }
    form = form.part(
        "id_document",
        Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
    );
    common::submit_form(app, tenant, form).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app
        .client
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) {
    let res = common::post(app, token, path, body).await;
    assert_eq!(res.status(), 200, "{path}: {}", res.text().await.unwrap());
}

async fn transition(app: &TestApp, id: &Value, to: &str) {
    let token = login(app, DPO, PASSWORD).await;
    let path = format!(
        "/v1/dpo/requests/{}/transitions",
        id["id"].as_str().unwrap()
    );
    post(app, &token, &path, json!({"to": to, "reason": "Motif"})).await;
}

/// The references of a page, in its order.
fn in_order(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["reference"].as_str().unwrap().to_owned())
        .collect()
}

/// The references of a page, sorted.
fn refs(list: &Value) -> Vec<String> {
    sorted(in_order(list))
}

/// The references a search finds, checked against the total it gives.
async fn search(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let list = get(app, token, &format!("/v1/dpo/requests?q={q}")).await;
    let found = refs(&list);
    assert_eq!(list["total"], found.len(), "total of q={q}");
    found
}

fn sorted(mut refs: Vec<String>) -> Vec<String> {
    refs.sort();
    refs
}

fn reference(request: &Value) -> String {
    request["reference"].as_str().unwrap().to_owned()
}

/// The overdue requests as the queue lists them, checked against the
/// `overdue` flag of every line of the whole queue.
async fn overdue(app: &TestApp, filter: &str) -> Vec<String> {
    let token = login(app, DPO, PASSWORD).await;
    let list = get(
        app,
        &token,
        &format!("/v1/dpo/requests?overdue=true{filter}"),
    )
    .await;
    let found = refs(&list);
    assert_eq!(list["total"], found.len(), "total of overdue=true{filter}");
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["overdue"] == true));
    if filter.is_empty() {
        let all = get(app, &token, "/v1/dpo/requests?per_page=100").await;
        let flagged: Vec<Value> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["overdue"] == true)
            .cloned()
            .collect();
        assert_eq!(refs(&json!({ "items": flagged })), found);
    }
    found
}

#[tokio::test]
async fn the_overdue_total_follows_pauses_extensions_closures_and_uploads_as_the_clock_moves() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    // Received 2 March 09:30: due 2 April 09:30.
    let waits = submit(&app, "dunkerque", "Ana", "Martin", "a@example.org").await;
    let paused = submit(&app, "dunkerque", "Bea", "Petit", "b@example.org").await;
    let extended = submit(&app, "dunkerque", "Cyr", "Roux", "c@example.org").await;
    let closed = submit(&app, "dunkerque", "Dan", "Faure", "d@example.org").await;
    let uploads = submit(&app, "dunkerque", "Eva", "Blanc", "e@example.org").await;
    submit(&app, "nimes", "Fred", "Noir", "f@example.org").await;
    create_staff(&app, Some("dunkerque"), DPO, "dpo", PASSWORD).await;
    create_staff(&app, Some("nimes"), "dpo@nimes.fr", "dpo", PASSWORD).await;

    transition(&app, &paused, "awaiting_identity").await;
    transition(&app, &uploads, "awaiting_identity").await;
    transition(&app, &closed, "in_progress").await;
    let token = login(&app, DPO, PASSWORD).await;
    let path = format!(
        "/v1/dpo/requests/{}/extension",
        extended["id"].as_str().unwrap()
    );
    post(&app, &token, &path, json!({"reason": "Plusieurs services"})).await;
    assert!(overdue(&app, "").await.is_empty());

    // At the due instant nothing is late yet; a second later one is.
    app.clock.set("2026-04-02T09:30:00Z".parse().unwrap());
    assert!(overdue(&app, "").await.is_empty());
    app.clock.set("2026-04-02T09:30:01Z".parse().unwrap());
    let late = sorted(vec![reference(&waits), reference(&closed)]);
    assert_eq!(overdue(&app, "").await, late);
    assert_eq!(
        overdue(&app, "&status=in_progress").await,
        vec![reference(&closed)]
    );
    transition(&app, &closed, "completed").await;
    assert_eq!(overdue(&app, "").await, vec![reference(&waits)]);

    // The upload resumes the clock with the 31 days it was stopped added.
    let upload = app
        .client
        .post(app.url(&format!(
            "/v1/requests/track/{}/documents",
            uploads["tracking_token"].as_str().unwrap()
        )))
        .multipart(Form::new().part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201);
    assert_eq!(overdue(&app, "").await, vec![reference(&waits)]);

    // The next day: yesterday's late request is counted from the kept days.
    app.clock.set("2026-04-03T10:00:00Z".parse().unwrap());
    assert_eq!(overdue(&app, "").await, vec![reference(&waits)]);
    assert_eq!(
        overdue(&app, "&status=received").await,
        vec![reference(&waits)]
    );
    assert!(overdue(&app, "&status=in_progress").await.is_empty());
    assert!(overdue(&app, "&kind=erasure").await.is_empty());
    assert_eq!(overdue(&app, "&kind=access").await, vec![reference(&waits)]);

    // Closing a paused request resumes then ends its clock: never late.
    transition(&app, &paused, "rejected").await;
    app.clock.set("2026-05-03T09:30:02Z".parse().unwrap());
    assert_eq!(
        overdue(&app, "").await,
        sorted(vec![reference(&waits), reference(&uploads)])
    );
    transition(&app, &waits, "in_progress").await;
    assert_eq!(
        overdue(&app, "&status=in_progress").await,
        vec![reference(&waits)]
    );
    assert_eq!(
        overdue(&app, "&status=received").await,
        vec![reference(&uploads)]
    );

    // The extension's two months run out.
    app.clock.set("2026-06-02T09:30:01Z".parse().unwrap());
    let mut late = sorted(vec![
        reference(&waits),
        reference(&extended),
        reference(&uploads),
    ]);
    assert_eq!(overdue(&app, "").await, late);
    transition(&app, &waits, "completed").await;
    late.retain(|r| *r != reference(&waits));
    assert_eq!(overdue(&app, "").await, late);

    // The other tenant's DPO counts its own request only.
    let token = login(&app, "dpo@nimes.fr", PASSWORD).await;
    let nimes = get(&app, &token, "/v1/dpo/requests?overdue=true").await;
    assert_eq!(nimes["total"], 1);
    assert_eq!(nimes["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn the_search_finds_references_addresses_and_names_whatever_case_and_accents() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let zoe = submit(
        &app,
        "dunkerque",
        "Zoé",
        "Lefèvre",
        "zoe.lefevre@example.org",
    )
    .await;
    let zoe2 = submit(&app, "dunkerque", "Zoe", "Dupont", "z.dupont@example.org").await;
    let other = submit(&app, "dunkerque", "Jean-Marc", "Œuvray", "marc@example.net").await;
    let elsewhere = submit(&app, "nimes", "Zoé", "Lefèvre", "zoe.lefevre@example.org").await;
    create_staff(&app, Some("dunkerque"), DPO, "dpo", PASSWORD).await;
    let token = login(&app, DPO, PASSWORD).await;
    let both = sorted(vec![reference(&zoe), reference(&zoe2)]);

    assert_eq!(
        search(&app, &token, &reference(&zoe)).await,
        vec![reference(&zoe)]
    );
    assert_eq!(
        search(&app, &token, &reference(&zoe).to_lowercase()).await,
        vec![reference(&zoe)]
    );
    assert_eq!(
        search(&app, &token, "zoe.lefevre@example.org").await,
        vec![reference(&zoe)]
    );
    assert_eq!(
        search(&app, &token, "ZOE.Lefevre@Example.ORG").await,
        vec![reference(&zoe)]
    );
    assert_eq!(search(&app, &token, "Lefèvre").await, vec![reference(&zoe)]);
    assert_eq!(search(&app, &token, "lefevre").await, vec![reference(&zoe)]);
    assert_eq!(search(&app, &token, "LEFÈVRE").await, vec![reference(&zoe)]);
    assert_eq!(search(&app, &token, "Dupont").await, vec![reference(&zoe2)]);
    assert_eq!(search(&app, &token, "zoe").await, both);
    assert_eq!(search(&app, &token, "Zoé").await, both);
    assert_eq!(search(&app, &token, "ZOÉ").await, both);
    assert_eq!(
        search(&app, &token, "oeuvray").await,
        vec![reference(&other)]
    );
    assert_eq!(
        search(&app, &token, "%C5%92uvray").await,
        vec![reference(&other)]
    );
    assert_eq!(
        search(&app, &token, "zoé%20lefèvre").await,
        vec![reference(&zoe)]
    );
    // Another tenant's requests are never found, not even by reference.
    let path = format!("/v1/dpo/requests?q={}", reference(&elsewhere));
    let list = get(&app, &token, &path).await;
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["id"] != elsewhere["id"]));
    assert_eq!(search(&app, &token, "zoe.lef").await, vec![reference(&zoe)]);
    assert_eq!(search(&app, &token, "jean").await, vec![reference(&other)]);
    assert_eq!(
        search(&app, &token, "Jean-Marc").await,
        vec![reference(&other)]
    );
    assert_eq!(search(&app, &token, "marc").await, vec![reference(&other)]);
    assert!(search(&app, &token, "nobody").await.is_empty());
    assert!(search(&app, &token, "100%25").await.is_empty());
    assert!(search(&app, &token, "zo_").await.is_empty());
    // Search and filters together.
    let list = get(&app, &token, "/v1/dpo/requests?q=zoe&status=completed").await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn a_search_sorts_counts_and_pages_its_matches_as_the_whole_queue_does() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let mut mine = Vec::new();
    // Two requests of the same instant, whose order only their ids decide.
    for (at, first) in [
        ("2026-03-05T10:00:00Z", "Anne"),
        ("2026-03-02T09:30:00Z", "Bea"),
        ("2026-03-03T08:00:00Z", "Cleo"),
        ("2026-03-03T08:00:00Z", "Dora"),
        ("2026-03-04T12:00:00Z", "Emma"),
        ("2026-03-01T07:00:00Z", "Fanny"),
    ] {
        app.clock.set(at.parse().unwrap());
        let email = format!("{}@example.org", first.to_lowercase());
        mine.push(submit(&app, "dunkerque", first, "Morel", &email).await);
        submit(&app, "dunkerque", first, "Durand", &email).await;
    }
    submit(&app, "nimes", "Anne", "Morel", "anne@example.org").await;
    create_staff(&app, Some("dunkerque"), DPO, "dpo", PASSWORD).await;
    // One closed (last of the open-first order), one extended (due later).
    transition(&app, &mine[1], "rejected").await;
    let token = login(&app, DPO, PASSWORD).await;
    let path = format!(
        "/v1/dpo/requests/{}/extension",
        mine[5]["id"].as_str().unwrap()
    );
    post(&app, &token, &path, json!({"reason": "Plusieurs services"})).await;

    let morel: Vec<String> = mine.iter().map(reference).collect();
    for sort in [
        "",
        "&sort=due_at",
        "&sort=-due_at",
        "&sort=received_at",
        "&sort=-received_at",
    ] {
        // The whole queue's order, sorted by the database, kept to the
        // matches: the search's, sorted after its lookup, must be the same.
        let all = get(
            &app,
            &token,
            &format!("/v1/dpo/requests?per_page=100{sort}"),
        )
        .await;
        let expected: Vec<String> = in_order(&all)
            .into_iter()
            .filter(|r| morel.contains(r))
            .collect();
        assert_eq!(expected.len(), morel.len());
        let found = get(
            &app,
            &token,
            &format!("/v1/dpo/requests?q=morel&per_page=100{sort}"),
        )
        .await;
        assert_eq!(in_order(&found), expected, "sort {sort}");
        assert_eq!(found["total"], 6);
        let page = get(
            &app,
            &token,
            &format!("/v1/dpo/requests?q=morel&per_page=4&page=2{sort}"),
        )
        .await;
        assert_eq!(in_order(&page), expected[4..], "second page, sort {sort}");
        assert_eq!(page["total"], 6);
        let beyond = get(
            &app,
            &token,
            &format!("/v1/dpo/requests?q=morel&per_page=4&page=3{sort}"),
        )
        .await;
        assert!(in_order(&beyond).is_empty());
        assert_eq!(beyond["total"], 6);
    }
    let last = get(&app, &token, "/v1/dpo/requests?q=morel").await;
    assert_eq!(
        in_order(&last).last(),
        Some(&morel[1]),
        "the closed one last"
    );
    let open = get(&app, &token, "/v1/dpo/requests?q=morel&status=received").await;
    assert_eq!(open["total"], 5);
    assert!(!in_order(&open).contains(&morel[1]));
    let today = get(&app, &token, "/v1/dpo/requests?q=morel%20emma").await;
    assert_eq!(in_order(&today), [morel[4].clone()]);
}

#[tokio::test]
async fn a_word_too_common_to_look_up_first_finds_what_the_rare_ones_would() {
    use diesel::RunQueryDsl;
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let mut mine = Vec::new();
    for (first, email) in [
        ("Anne", "a@example.org"),
        ("Bea", "b@example.org"),
        ("Cleo", "c@example.org"),
    ] {
        mine.push(submit(&app, "dunkerque", first, "Morel", email).await);
    }
    let elsewhere = submit(&app, "nimes", "Anne", "Morel", "a@example.org").await;
    create_staff(&app, Some("dunkerque"), DPO, "dpo", PASSWORD).await;
    let token = login(&app, DPO, PASSWORD).await;
    // 1 200 words beginning with `zzq`, more than a search looks up before
    // its query: the first 1 100 shared by two requests and one of another
    // tenant, the last 100 the third request's, so that a lookup cut short
    // in word order would miss it.
    let id = |r: &Value| r["id"].as_str().unwrap().to_owned();
    let early = [id(&mine[0]), id(&mine[1]), id(&elsewhere)];
    let rows: Vec<String> = (0..1200)
        .map(|n| {
            let owner = if n < 1100 {
                early[n % 3].clone()
            } else {
                id(&mine[2])
            };
            format!("('zzq{n:04}', '{owner}')")
        })
        .collect();
    let insert = format!(
        "INSERT INTO request_words (word, request_id) VALUES {}",
        rows.join(", ")
    );
    app.state
        .db
        .run(move |conn| Ok(diesel::sql_query(insert).execute(conn)?))
        .await
        .unwrap();
    let all = sorted(mine.iter().map(reference).collect());
    // The common word alone, joined in the database.
    assert_eq!(search(&app, &token, "zzq").await, all);
    // With a rare one, looked up first, in either order.
    assert_eq!(
        search(&app, &token, "zzq%20cleo").await,
        vec![reference(&mine[2])]
    );
    assert_eq!(
        search(&app, &token, "cleo%20zzq").await,
        vec![reference(&mine[2])]
    );
    assert_eq!(search(&app, &token, "morel%20zzq").await, all);
    // `zzq0001` belongs to the second request only, `zzq1150` to the third.
    assert_eq!(
        search(&app, &token, "zzq%20zzq0001").await,
        vec![reference(&mine[1])]
    );
    assert_eq!(
        search(&app, &token, "zzq1150%20zzq").await,
        vec![reference(&mine[2])]
    );
    assert!(search(&app, &token, "zzq%20nobody").await.is_empty());
    assert!(
        search(&app, &token, "zzq0002").await.is_empty(),
        "another tenant's word"
    );
    let list = get(&app, &token, "/v1/dpo/requests?q=zzq&status=completed").await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn the_migration_counts_and_folds_the_requests_written_before_it() {
    use diesel::RunQueryDsl;
    use guichet::db::migrate;
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let runs = submit(&app, "dunkerque", "Zoé", "Lefèvre", "zoe@example.org").await;
    let paused = submit(&app, "dunkerque", "Zoé", "Lefèvre", "zoe2@example.org").await;
    create_staff(&app, Some("dunkerque"), DPO, "dpo", PASSWORD).await;
    transition(&app, &paused, "awaiting_identity").await;
    // Back to the schema before the queue's counts (through every later
    // migration), with the search text as it was written then (lower case,
    // accents kept); then forward.
    app.state
        .db
        .run(|conn| {
            common::database::revert_through(conn, "_queue_speed");
            diesel::sql_query(
                "UPDATE rights_requests SET search_text = \
                 lower(reference) || ' zoé lefèvre ' || email",
            )
            .execute(conn)?;
            migrate::run_pending(conn).expect("migrate");
            Ok(())
        })
        .await
        .unwrap();
    app.clock.set("2026-04-05T10:00:00Z".parse().unwrap());
    assert_eq!(overdue(&app, "").await, vec![reference(&runs)]);
    assert_eq!(
        overdue(&app, "&status=received").await,
        vec![reference(&runs)]
    );
    let token = login(&app, DPO, PASSWORD).await;
    let found = get(&app, &token, "/v1/dpo/requests?q=zoe%20lefevre").await;
    assert_eq!(found["total"], 2);
    let found = get(&app, &token, "/v1/dpo/requests?q=Lef%C3%A8vre").await;
    assert_eq!(found["total"], 2);
}

#[tokio::test]
async fn the_retention_erasure_takes_the_words_a_request_was_found_by() {
    use diesel::prelude::*;
    use guichet::db::schema::request_words as words;
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    let closed = submit(&app, "dunkerque", "Zoé", "Lefèvre", "zoe@example.org").await;
    let open = submit(&app, "dunkerque", "Zoé", "Martin", "zm@example.org").await;
    create_staff(&app, Some("dunkerque"), DPO, "dpo", PASSWORD).await;
    transition(&app, &closed, "completed").await;
    // Two years after closure the requester's data go.
    app.clock.set("2028-03-03T00:00:00Z".parse().unwrap());
    let now = app.clock.now();
    common::sweep_with(&app, now, false, None).await;
    let left = |id: String| {
        let state = app.state.clone();
        async move {
            state
                .db
                .run(move |conn| {
                    Ok(words::table
                        .filter(words::request_id.eq(id))
                        .count()
                        .get_result::<i64>(conn)?)
                })
                .await
                .unwrap()
        }
    };
    assert_eq!(left(closed["id"].as_str().unwrap().to_owned()).await, 0);
    assert!(left(open["id"].as_str().unwrap().to_owned()).await > 0);
    let token = login(&app, DPO, PASSWORD).await;
    let found = get(&app, &token, "/v1/dpo/requests?q=zoe").await;
    assert_eq!(refs(&found), vec![reference(&open)]);
    assert_eq!(found["total"], 1);
    let found = get(&app, &token, "/v1/dpo/requests?q=lefevre").await;
    assert_eq!(found["total"], 0);
}
