//! Retention sweeps through the real service: records made through the API,
//! the clock moved across each period's end (one second before, one after,
//! leap days and month ends), and exactly what is gone and what stays.
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use crate::common::{create_staff, deliver, dpo, get, login, sweep_with, TestApp, PASSWORD};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use guichet::retention::runs::Trigger;
use guichet::retention::scheduler::Tick;
use guichet::retention::sweep::Report;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nPIECE-IDENTITE\n%%EOF\n";

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

async fn sweep_at(app: &TestApp, as_of: &str, dry_run: bool) -> Report {
    sweep_with(app, t(as_of), dry_run, None).await
}

fn removed(report: &Report, scope: &str, category: &str) -> i64 {
    report
        .removed
        .get(scope)
        .and_then(|c| c.get(category))
        .copied()
        .unwrap_or(0)
}

async fn give_consent(app: &TestApp, subject: &str) {
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/consents"))
        .json(&json!({"subject_id": subject, "policy_version": "2026-01", "choices": {"audience": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
}

async fn submit(app: &TestApp, tenant: &str, kind: &str, email: &str, with_pdf: bool) -> Value {
    let mut form = Form::new()
        .text("kind", kind.to_owned())
        .text("first_name", "Zoé")
        .text("last_name", "Lefèvre")
        .text("email", email.to_owned())
        .text("postal_address", "3 rue des Lilas, 92310 Sèvres")
        .text("details", "Mes données, s'il vous plaît. TEXTE-LIBRE");
    if kind == "opposition" {
        form = form.text("scope", "prospection");
    }
    if with_pdf {
        form = form.part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("carte.pdf"),
        );
    }
    common::submit_form(app, tenant, form).await
}

async fn close(app: &TestApp, token: &str, id: &str, to: &str) {
    let body = if to == "rejected" {
        json!({"to": to, "reason": "Demande sans objet."})
    } else {
        json!({"to": to, "note": "Réponse envoyée par courrier à Mme Lefèvre."})
    };
    let res = app
        .client
        .post(app.url(&format!("/v1/dpo/requests/{id}/transitions")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

async fn detail(app: &TestApp, token: &str, id: &str) -> Value {
    let res = get(app, token, &format!("/v1/dpo/requests/{id}")).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn consent_records_go_at_the_end_of_their_period_and_the_counts_stay() {
    let app = common::spawn_app().await;
    // 31 January + 13 months ends on 28 February 2027.
    app.clock.set(t("2026-01-31T10:00:00Z"));
    give_consent(&app, "6d1f1c0e-3f7b-4a53-9a57-0c1d2e3f4a51").await;
    app.clock.set(t("2026-02-01T08:00:00Z"));
    give_consent(&app, "6d1f1c0e-3f7b-4a53-9a57-0c1d2e3f4a52").await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    let stats = || async {
        let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
        get(
            &app,
            &token,
            "/v1/dpo/consents/stats?from=2026-01-01&to=2026-02-28",
        )
        .await
        .json::<Value>()
        .await
        .unwrap()
    };
    let before = stats().await;
    app.clock.set(t("2027-03-01T00:00:00Z"));

    let r = sweep_at(&app, "2027-02-28T09:59:59Z", false).await;
    assert_eq!(removed(&r, "sevres", "consent_events"), 0);
    assert_eq!(common::consent_count(&app).await, 2);

    let r = sweep_at(&app, "2027-02-28T10:00:01Z", false).await;
    assert_eq!(removed(&r, "sevres", "consent_events"), 1);
    assert_eq!(common::consent_count(&app).await, 1);
    let history = app
        .get("/v1/tenants/sevres/consents/6d1f1c0e-3f7b-4a53-9a57-0c1d2e3f4a51/history")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(history["items"], json!([]));

    // 1 February + 13 months = 1 March 2027, 08:00.
    let r = sweep_at(&app, "2027-03-01T07:59:59Z", false).await;
    assert_eq!(r.total, 0);
    let r = sweep_at(&app, "2027-03-01T08:00:01Z", false).await;
    assert_eq!(removed(&r, "sevres", "consent_events"), 1);
    assert_eq!(common::consent_count(&app).await, 0);
    // The anonymous daily counts outlive the records.
    assert_eq!(stats().await, before);
    assert!(before.to_string().contains("audience"), "{before}");
}

#[tokio::test]
async fn documents_then_requester_data_go_by_kind_open_requests_stay() {
    let app = common::spawn_app().await;
    create_staff(&app, Some("sevres"), "dpo@ville-sevres.fr", "dpo", PASSWORD).await;
    // Closed on a leap day: one year later is 28 February 2029.
    app.clock.set(t("2028-02-20T09:00:00Z"));
    let access = submit(&app, "sevres", "access", "zoe@example.org", true).await;
    let opposition = submit(&app, "sevres", "opposition", "news@example.org", true).await;
    let open = submit(&app, "sevres", "erasure", "open@example.org", true).await;
    let (access_id, opp_id, open_id) = (
        access["id"].as_str().unwrap(),
        opposition["id"].as_str().unwrap(),
        open["id"].as_str().unwrap(),
    );
    app.clock.set(t("2028-02-29T12:00:00Z"));
    let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    close(&app, &token, access_id, "completed").await;
    close(&app, &token, opp_id, "completed").await;
    let listed = || async {
        let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
        get(
            &app,
            &token,
            "/v1/dpo/suppression/check?email=news@example.org",
        )
        .await
        .json::<Value>()
        .await
        .unwrap()["listed"]
            .clone()
    };
    assert_eq!(listed().await, true);
    app.clock.set(t("2032-01-01T00:00:00Z"));
    let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;

    let r = sweep_at(&app, "2029-02-28T11:59:59Z", false).await;
    assert_eq!(removed(&r, "sevres", "id_documents"), 0);
    let r = sweep_at(&app, "2029-02-28T12:00:01Z", false).await;
    assert_eq!(removed(&r, "sevres", "id_documents"), 1);
    let a = detail(&app, &token, access_id).await;
    let doc = &a["documents"][0];
    assert_eq!(doc["purged_at"], "2029-02-28T12:00:01Z");
    assert_eq!(
        a["first_name"], "Zoé",
        "the requester's data stay two years"
    );
    let res = get(
        &app,
        &token,
        &format!(
            "/v1/dpo/requests/{access_id}/documents/{}",
            doc["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(res.status(), 410);
    let o = detail(&app, &token, opp_id).await;
    assert!(
        o["documents"][0]["purged_at"].is_null(),
        "oppositions keep theirs 3 years"
    );

    // Two years after closure the requester's data go; an anonymous record stays.
    let r = sweep_at(&app, "2030-02-28T11:59:59Z", false).await;
    assert_eq!(removed(&r, "sevres", "requests_erased"), 0);
    let r = sweep_at(&app, "2030-02-28T12:00:01Z", false).await;
    assert_eq!(removed(&r, "sevres", "requests_erased"), 1);
    let a = detail(&app, &token, access_id).await;
    for field in [
        "first_name",
        "last_name",
        "email",
        "postal_address",
        "details",
    ] {
        assert!(a[field].is_null(), "{field} erased: {a}");
    }
    assert_eq!(a["erased_at"], "2030-02-28T12:00:01Z");
    assert_eq!(a["status"], "completed");
    assert_eq!(a["kind"], "access");
    assert_eq!(a["reference"], access["reference"]);
    assert!(
        !a["events"].to_string().contains("Lefèvre"),
        "the timeline's free texts go too: {}",
        a["events"]
    );
    let res = app
        .get(&format!(
            "/v1/requests/track/{}",
            access["tracking_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        res.status(),
        404,
        "the tracking link goes with the requester"
    );
    let o = detail(&app, &token, opp_id).await;
    assert_eq!(o["first_name"], "Zoé", "an opposition's data stay 3 years");

    // Three years: the opposition's document, data and suppression entry.
    let r = sweep_at(&app, "2031-02-28T11:59:59Z", false).await;
    assert_eq!(r.total, 0, "{:?}", r.removed);
    assert_eq!(listed().await, true);
    let r = sweep_at(&app, "2031-02-28T12:00:01Z", false).await;
    assert_eq!(removed(&r, "sevres", "id_documents"), 1);
    assert_eq!(removed(&r, "sevres", "requests_erased"), 1);
    assert_eq!(removed(&r, "sevres", "suppression_entries"), 1);
    assert_eq!(listed().await, false);

    // The open request is never touched, however old.
    let r = sweep_at(&app, "2031-12-31T00:00:00Z", false).await;
    assert_eq!(r.total, 0, "{:?}", r.removed);
    let o = detail(&app, &token, open_id).await;
    assert_eq!(o["first_name"], "Zoé");
    assert!(o["documents"][0]["purged_at"].is_null());

    // No plaintext or ciphertext left for the closed ones.
    let held: Vec<(String, bool)> = app
        .state
        .db
        .run(|conn| {
            use guichet::db::schema::request_documents::dsl::*;
            Ok(request_documents
                .select((request_id, ciphertext.is_not_null()))
                .load(conn)?)
        })
        .await
        .unwrap();
    for (request, has_content) in held {
        assert_eq!(has_content, request == open_id, "{request}");
    }
}

#[tokio::test]
async fn the_connection_journal_and_delivered_mail_go_other_entries_stay() {
    let app = common::spawn_app().await;
    app.clock.set(t("2026-01-31T10:00:00Z"));
    dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": "dpo@ville-sevres.fr", "password": "not the password at all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    submit(&app, "valparisis", "access", "zoe@example.org", false).await;
    let pass = deliver(&app).await;
    assert_eq!(pass.sent, 2, "the DPO's and the requester's");
    app.clock.set(t("2028-01-01T00:00:00Z"));

    // 31 January + 30 days = 2 March.
    let r = sweep_at(&app, "2026-03-02T09:59:59Z", false).await;
    assert_eq!(r.total, 0, "{:?}", r.removed);
    let r = sweep_at(&app, "2026-03-02T10:00:01Z", false).await;
    assert_eq!(removed(&r, "valparisis", "mail_messages"), 2);

    // One year of sign-ins: 31 January 2027.
    let r = sweep_at(&app, "2027-01-31T09:59:59Z", false).await;
    assert_eq!(r.total, 0, "{:?}", r.removed);
    let r = sweep_at(&app, "2027-01-31T10:00:01Z", false).await;
    assert_eq!(
        removed(&r, "sevres", "journal_entries"),
        2,
        "{:?}",
        r.removed
    );
    let token = login(&app, "dpo@ville-sevres.fr", PASSWORD).await;
    let audit: Value = get(&app, &token, "/v1/dpo/audit?per_page=100")
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap())
        .collect();
    // The sign-in just made, and a record of each of the four runs.
    assert_eq!(kinds.iter().filter(|k| k.starts_with("login.")).count(), 1);
    assert_eq!(kinds.iter().filter(|k| **k == "retention.run").count(), 4);
}

#[tokio::test]
async fn a_dry_run_reports_exactly_what_a_sweep_removes_and_removes_nothing() {
    let app = common::spawn_app().await;
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    for i in 0..5 {
        give_consent(&app, &format!("6d1f1c0e-3f7b-4a53-9a57-0c1d2e3f4a6{i}")).await;
    }
    let a = submit(&app, "sevres", "access", "a@example.org", true).await;
    let b = submit(&app, "sevres", "rectification", "b@example.org", true).await;
    close(&app, &token, a["id"].as_str().unwrap(), "completed").await;
    close(&app, &token, b["id"].as_str().unwrap(), "rejected").await;
    app.clock.set(t("2030-01-01T00:00:00Z"));
    let dry = sweep_at(&app, "2027-06-01T00:00:00Z", true).await;
    assert!(dry.run_id.is_none());
    assert_eq!(removed(&dry, "sevres", "consent_events"), 5);
    assert_eq!(removed(&dry, "sevres", "id_documents"), 2);
    assert_eq!(removed(&dry, "sevres", "requests_erased"), 0);
    assert_eq!(
        common::consent_count(&app).await,
        5,
        "a dry run removes nothing"
    );
    let again = sweep_at(&app, "2027-06-01T00:00:00Z", true).await;
    assert_eq!(again.removed, dry.removed);
    let real = sweep_at(&app, "2027-06-01T00:00:00Z", false).await;
    assert_eq!(real.removed, dry.removed);
    assert_eq!(common::consent_count(&app).await, 0);
    // --tenant: only that tenant.
    let other = sweep_with(&app, t("2029-12-01T00:00:00Z"), true, Some("dunkerque")).await;
    assert!(other.removed.is_empty(), "{:?}", other.removed);
    let sevres = sweep_with(&app, t("2029-12-01T00:00:00Z"), true, Some("sevres")).await;
    assert_eq!(removed(&sevres, "sevres", "requests_erased"), 2);
}

#[tokio::test]
async fn runs_are_listed_per_tenant_and_journaled() {
    let app = common::spawn_app().await;
    let sevres = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let dunkerque = dpo(&app, "dunkerque", "dpo@dunkerque.fr").await;
    create_staff(&app, None, "admin@guichet.example", "admin", PASSWORD).await;
    let admin = login(&app, "admin@guichet.example", PASSWORD).await;
    give_consent(&app, "6d1f1c0e-3f7b-4a53-9a57-0c1d2e3f4a70").await;
    // 2 March 2026 + 13 months for the consent, + 1 year for the sign-in.
    let r = sweep_at(&app, "2027-06-01T00:00:00Z", false).await;
    assert_eq!(r.status, "completed");
    let run_id = r.run_id.clone().unwrap();

    let list = |token: String, q: &'static str| {
        let app = &app;
        async move {
            let res = get(app, &token, &format!("/v1/dpo/retention/runs{q}")).await;
            assert_eq!(res.status(), 200);
            res.json::<Value>().await.unwrap()
        }
    };
    let mine = list(sevres.clone(), "").await;
    assert_eq!(mine["total"], 1);
    let item = &mine["items"][0];
    assert_eq!(item["id"], run_id.as_str());
    assert_eq!(item["trigger"], "cli");
    assert_eq!(item["status"], "completed");
    assert_eq!(item["as_of"], "2027-06-01T00:00:00Z");
    let expected = json!({"sevres": {"consent_events": 1, "journal_entries": 1}});
    assert_eq!(item["removed"], expected);
    assert_eq!(item["total"], 2);
    let theirs = list(dunkerque.clone(), "").await;
    assert_eq!(
        theirs["items"][0]["removed"],
        json!({"dunkerque": {"journal_entries": 1}}),
        "another tenant's counts stay hidden"
    );
    let all = list(admin.clone(), "").await;
    assert!(all["items"][0]["removed"]["sevres"].is_object());
    let one = list(admin.clone(), "?tenant=sevres").await;
    assert_eq!(one["items"][0]["removed"], expected);

    let audit: Value = get(&app, &sevres, "/v1/dpo/audit?kind=retention")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["total"], 1);
    assert_eq!(audit["items"][0]["subject_id"], run_id.as_str());
    assert_eq!(audit["items"][0]["detail"]["removed"], expected["sevres"]);

    let res = app.get("/v1/dpo/retention/runs").await;
    assert_eq!(res.status(), 401);
    let res = get(&app, &sevres, "/v1/dpo/retention/runs?per_page=1000").await;
    common::assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn each_slot_runs_once_and_interrupted_sweeps_are_finished() {
    let app = common::spawn_app().await;
    give_consent(&app, "6d1f1c0e-3f7b-4a53-9a57-0c1d2e3f4a80").await;
    let scheduler = app.state.retention.clone();
    let tick = || {
        let s = scheduler.clone();
        async move {
            tokio::task::spawn_blocking(move || s.tick().unwrap())
                .await
                .unwrap()
        }
    };
    // 03:00 in Paris on 5 April 2027 is 01:00 UTC.
    app.clock.set(t("2027-04-05T00:59:00Z"));
    let first = tick().await;
    let Tick::Ran(report) = first else {
        panic!("the slot of 4 April is due: {first:?}")
    };
    assert_eq!(report.removed["sevres"]["consent_events"], 1);
    assert!(matches!(tick().await, Tick::Idle), "once per slot");
    app.clock.set(t("2027-04-05T01:00:00Z"));
    assert!(matches!(tick().await, Tick::Ran(_)), "the next slot");
    assert!(matches!(tick().await, Tick::Idle));

    // A sweep whose process died stays `running`; the next look closes it
    // as interrupted and finishes the work.
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.pool().get().unwrap();
        guichet::retention::runs::start(
            &mut conn,
            guichet::retention::runs::NewRun {
                trigger: Trigger::Cli,
                slot: None,
                tenant_id: None,
                as_of: t("2027-04-05T01:00:00Z"),
            },
            t("2027-04-05T01:00:00Z").naive_utc(),
        )
        .unwrap();
    })
    .await
    .unwrap();
    let Tick::Ran(resumed) = tick().await else {
        panic!("a resume")
    };
    assert!(resumed.run_id.is_some());
    let token = {
        create_staff(&app, None, "admin@guichet.example", "admin", PASSWORD).await;
        login(&app, "admin@guichet.example", PASSWORD).await
    };
    let runs: Value = get(&app, &token, "/v1/dpo/retention/runs")
        .await
        .json()
        .await
        .unwrap();
    let triggers: Vec<(&str, &str)> = runs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["trigger"].as_str().unwrap(),
                i["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            ("resume", "completed"),
            ("cli", "interrupted"),
            ("schedule", "completed"),
            ("schedule", "completed"),
        ]
    );

    // Two instances, each with its own connections, looking at once: one
    // runs the slot, the other finds it taken or the lock held.
    app.clock.set(t("2027-04-06T01:00:00Z"));
    let other = guichet::retention::scheduler::Scheduler {
        db: guichet::db::Db::new(&app.state.settings.database).unwrap(),
        ..app.state.retention.clone()
    };
    let tick_other = || {
        let s = other.clone();
        async move {
            tokio::task::spawn_blocking(move || s.tick().unwrap())
                .await
                .unwrap()
        }
    };
    let (a, b) = tokio::join!(tick(), tick_other());
    let ran = [&a, &b]
        .iter()
        .filter(|x| matches!(x, Tick::Ran(_)))
        .count();
    assert_eq!(ran, 1, "{a:?} {b:?}");
}
