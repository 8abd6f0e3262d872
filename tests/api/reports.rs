//! The figures of the DPO's annual report, through the real service.

use crate::common::{self, assert_problem, dpo, get, login, post, TestApp, PASSWORD};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub(crate) const DPO: &str = "dpo@valparisis.fr";

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub(crate) async fn submitted(app: &TestApp, tenant: &str, kind: &str) -> String {
    let res = app
        .client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .json(&json!({
            "kind": kind, "first_name": "Zoé", "last_name": "Lefèvre",
            "email": "zoe@example.org", "details": "Mes données.",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub(crate) async fn close(app: &TestApp, id: &str, to: &str) {
    let token = login(app, DPO, PASSWORD).await;
    let body = match to {
        "rejected" => json!({"to": to, "reason": "Demande manifestement infondée."}),
        _ => json!({"to": to}),
    };
    let res = post(
        app,
        &token,
        &format!("/v1/dpo/requests/{id}/transitions"),
        body,
    )
    .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

#[tokio::test]
async fn the_annual_figures_count_each_right_with_its_delays_as_json_and_csv() {
    let app = common::spawn_app_with(
        |s| {
            s.requests.submissions_per_ip_per_hour = 1000;
            s.requests.submissions_per_email_per_day = 1000;
        },
        |_| {},
    )
    .await;
    dpo(&app, "valparisis", DPO).await;
    app.clock.set(at("2026-02-01T09:00:00Z"));
    let a1 = submitted(&app, "valparisis", "access").await;
    let a2 = submitted(&app, "valparisis", "access").await;
    let _a3 = submitted(&app, "valparisis", "access").await;
    let e1 = submitted(&app, "valparisis", "erasure").await;
    submitted(&app, "valparisis", "rectification").await;
    app.clock.set(at("2026-02-11T09:00:00Z"));
    close(&app, &a1, "completed").await;
    close(&app, &a2, "rejected").await;
    // Past the one-month deadline (1 March): late.
    app.clock.set(at("2026-03-15T09:00:00Z"));
    close(&app, &e1, "completed").await;

    let token = login(&app, DPO, PASSWORD).await;
    let res = get(
        &app,
        &token,
        "/v1/dpo/reports/requests?from=2026-01-01&to=2026-12-31",
    )
    .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["from"], "2026-01-01");
    let row = |kind: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind}: {report}"))
            .clone()
    };
    let access = row("access");
    assert_eq!(access["tenant"], "valparisis");
    assert_eq!(
        [
            &access["received"],
            &access["answered"],
            &access["rejected"],
            &access["overdue"],
            &access["extended"]
        ],
        [&json!(3), &json!(1), &json!(1), &json!(1), &json!(0)],
        "the third still open past its deadline: {access}"
    );
    assert_eq!(access["median_days"], 10);
    assert_eq!(access["p90_days"], 10);
    let erasure = row("erasure");
    assert_eq!(erasure["answered"], 1);
    assert_eq!(erasure["overdue"], 1, "answered late");
    assert_eq!(erasure["median_days"], 42);
    assert_eq!(
        row("rectification")["median_days"],
        Value::Null,
        "none closed"
    );

    // A period with nothing received counts nothing.
    let res = get(
        &app,
        &token,
        "/v1/dpo/reports/requests?from=2026-03-01&to=2026-03-31",
    )
    .await;
    let empty: Value = res.json().await.unwrap();
    assert_eq!(empty["rows"], json!([]));

    let res = app
        .client
        .get(app.url("/v1/dpo/reports/requests?from=2026-01-01&to=2026-12-31"))
        .bearer_auth(&token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "tenant,kind,received,answered,rejected,overdue,extended,median_days,p90_days"
    );
    assert!(
        lines.contains(&"valparisis,access,3,1,1,1,0,10,10"),
        "{csv}"
    );
    assert!(
        lines.contains(&"valparisis,erasure,1,1,0,1,0,42,42"),
        "{csv}"
    );

    let res = get(
        &app,
        &token,
        "/v1/dpo/reports/requests?from=2026-12-31&to=2026-01-01",
    )
    .await;
    let body = assert_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "from");
    let res = get(
        &app,
        &token,
        "/v1/dpo/reports/requests?from=2020-01-01&to=2026-01-01",
    )
    .await;
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_dpo_reads_only_its_own_tenants_figures() {
    let app = common::spawn_app().await;
    dpo(&app, "valparisis", DPO).await;
    app.clock.set(at("2026-05-04T09:00:00Z"));
    submitted(&app, "valparisis", "access").await;
    let sevres = common::dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    // Another tenant, asked for by name, is one the DPO does not know.
    let res = get(&app, &sevres, "/v1/dpo/reports/requests?tenant=valparisis").await;
    assert_problem(res, 404, "not_found").await;
    let res = get(&app, &sevres, "/v1/dpo/reports/requests").await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(
        report["rows"],
        json!([]),
        "Sèvres's DPO sees no Val Parisis figure"
    );
    let token = login(&app, DPO, PASSWORD).await;
    let report: Value = get(&app, &token, "/v1/dpo/reports/requests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["from"], "2026-01-01", "the year so far by default");
    assert_eq!(report["rows"][0]["received"], 1);
}
