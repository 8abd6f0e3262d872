//! The annual report's console page (`/console/reports`): the figures of
//! known requests, the CSV for the session, the choice of tenant, and bad
//! dates said beside their fields.

use crate::common::pages::{console_get, console_page, error_beside, header, page_of, sign_in};
use crate::common::{self, dpo, PASSWORD};
use crate::reports::{at, close, submitted, DPO};

/// The cells of the report page's row for `kind`, as text (tags left
/// out, `'` as the page escapes it).
fn cells(html: &str, kind: &str) -> Vec<String> {
    let marker = format!("<tr data-kind=\"{kind}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{kind}: {html}"));
    let row = html[start + marker.len()..].split("</tr>").next().unwrap();
    row.split("</t")
        .filter_map(|cell| {
            let open = cell.rfind("<td").or_else(|| cell.rfind("<th"))?;
            let mut text = String::new();
            let mut in_tag = false;
            for c in cell[open..].chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    c if !in_tag => text.push(c),
                    _ => {}
                }
            }
            Some(text.trim().replace("&#x27;", "'"))
        })
        .collect()
}

#[tokio::test]
async fn the_console_report_page_shows_the_figures_and_downloads_them_as_csv() {
    let app =
        common::spawn_app_with(|s| s.requests.submissions_per_ip_per_hour = 1000, |_| {}).await;
    dpo(&app, "valparisis", DPO).await;
    app.clock.set(at("2026-02-01T09:00:00Z"));
    let a1 = submitted(&app, "valparisis", "access").await;
    let a2 = submitted(&app, "valparisis", "access").await;
    submitted(&app, "valparisis", "access").await;
    submitted(&app, "valparisis", "erasure").await;
    app.clock.set(at("2026-02-11T09:00:00Z"));
    close(&app, &a1, "completed").await;
    close(&app, &a2, "rejected").await;
    app.clock.set(at("2026-03-15T09:00:00Z"));

    let console = sign_in(&app, DPO).await;
    let html = console_page(&app, &console.cookie, "/console").await;
    assert!(
        html.contains("href=\"/console/reports\""),
        "in the navigation"
    );
    let html = console_page(
        &app,
        &console.cookie,
        "/console/reports?from=2026-01-01&to=2026-12-31",
    )
    .await;
    assert!(
        html.contains("Demandes reçues du 1 janvier 2026 au 31 décembre 2026"),
        "{html}"
    );
    assert!(
        !html.contains("id=\"f-tenant\""),
        "a DPO of one tenant has no choice"
    );
    // Right, received, answered, rejected, overdue, extended, median, p90.
    assert_eq!(
        cells(&html, "access"),
        ["Droit d'accès", "3", "1", "1", "1", "0", "10", "10"].map(String::from),
        "{html}"
    );
    let erasure = cells(&html, "erasure");
    assert_eq!(erasure[1..6], ["1", "0", "0", "1", "0"].map(String::from));
    assert_eq!(erasure.len(), 8, "{erasure:?}");
    assert!(
        erasure[6..]
            .iter()
            .all(|c| c.ends_with("aucune demande close")),
        "{erasure:?}"
    );

    // The CSV link downloads the same figures, for this session.
    let marker = "id=\"report-csv\"";
    let start = html.find(marker).expect("the CSV link");
    let link_start = html[..start].rfind("href=\"").unwrap() + 6;
    let link = html[link_start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(html[start..].starts_with(&format!("{marker} download>Télécharger en CSV</a>")));
    let res = console_get(&app, &console.cookie, &link).await;
    assert_eq!(res.status(), 200, "{link}");
    assert!(header(&res, "content-type").starts_with("text/csv"));
    assert_eq!(
        header(&res, "content-disposition"),
        "attachment; filename=\"demandes-2026-01-01-2026-12-31.csv\""
    );
    let csv = res.text().await.unwrap();
    assert!(
        csv.lines()
            .any(|l| l == "valparisis,access,3,1,1,1,0,10,10"),
        "{csv}"
    );
    assert!(
        csv.lines().any(|l| l == "valparisis,erasure,1,0,0,1,0,,"),
        "{csv}"
    );
    // Not without the session.
    assert_eq!(app.get(&link).await.status(), 303);

    // Bad dates: the form says so beside each field, and nothing else.
    let res = console_get(
        &app,
        &console.cookie,
        "/console/reports?from=2026-02-30&to=demain",
    )
    .await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    for field in ["from", "to"] {
        let error = error_beside(&html, field).unwrap_or_else(|| panic!("{field}: {html}"));
        assert!(error.contains("AAAA-MM-JJ"), "{error}");
    }
    assert!(
        html.contains("value=\"2026-02-30\""),
        "what was typed stays"
    );
    assert!(!html.contains("id=\"report\""), "no table");
    assert!(!html.contains("report-csv"), "no link");
    let html = page_of(
        console_get(
            &app,
            &console.cookie,
            "/console/reports?from=2026-12-31&to=2026-01-01",
        )
        .await,
    )
    .await;
    let error = error_beside(&html, "from").expect("beside from");
    assert!(error.contains("doit précéder"), "{error}");
    // A hand-made CSV address with a bad date gets the page and its errors.
    let res = console_get(
        &app,
        &console.cookie,
        "/console/reports/export?from=2026-13-01",
    )
    .await;
    assert_eq!(res.status(), 303);
    assert_eq!(header(&res, "location"), "/console/reports?from=2026-13-01");
}

#[tokio::test]
async fn an_admin_chooses_the_tenant_of_the_report() {
    let app = common::spawn_app_with(
        |s| s.tenants.get_mut("sevres").unwrap().require_id_document = false,
        |_| {},
    )
    .await;
    common::create_staff(&app, None, "admin@guichet.example", "admin", PASSWORD).await;
    app.clock.set(at("2026-05-04T09:00:00Z"));
    submitted(&app, "valparisis", "access").await;
    submitted(&app, "sevres", "erasure").await;
    let console = sign_in(&app, "admin@guichet.example").await;
    let html = console_page(&app, &console.cookie, "/console/reports").await;
    assert!(html.contains("id=\"f-tenant\""), "{html}");
    assert!(
        html.contains("value=\"2026-01-01\""),
        "the year so far by default"
    );
    assert_eq!(
        cells(&html, "access")[0],
        "Communauté d'agglomération Val Parisis"
    );
    assert_eq!(cells(&html, "erasure")[0], "Ville de Sèvres");
    let html = console_page(&app, &console.cookie, "/console/reports?tenant=sevres").await;
    assert!(!html.contains("data-kind=\"access\""), "{html}");
    assert!(html.contains("data-kind=\"erasure\""));
    assert!(
        html.contains(
            "/console/reports/export?from=2026-01-01&amp;to=2026-05-04&amp;tenant=sevres"
        ),
        "{html}"
    );
    let res = console_get(&app, &console.cookie, "/console/reports?tenant=ailleurs").await;
    assert_eq!(res.status(), 422);
    let html = page_of(res).await;
    assert!(error_beside(&html, "tenant").is_some(), "{html}");
}

#[tokio::test]
async fn a_dpo_shared_by_two_communes_reads_and_chooses_them_alone() {
    let app = common::spawn_app_with(
        |s| s.tenants.get_mut("sevres").unwrap().require_id_document = false,
        |_| {},
    )
    .await;
    let shared = "dpo@cdg.example.fr";
    common::create_staff_of(&app, &["valparisis", "sevres"], shared, "dpo", PASSWORD).await;
    app.clock.set(at("2026-05-04T09:00:00Z"));
    submitted(&app, "valparisis", "access").await;
    submitted(&app, "sevres", "erasure").await;
    let console = sign_in(&app, shared).await;
    let html = console_page(&app, &console.cookie, "/console/reports").await;
    assert!(html.contains("<option value=\"sevres\""), "{html}");
    assert!(html.contains("<option value=\"valparisis\""), "{html}");
    assert!(
        !html.contains("<option value=\"nimes\""),
        "not a tenant it serves"
    );
    assert_eq!(cells(&html, "erasure")[0], "Ville de Sèvres");
    assert_eq!(
        cells(&html, "access")[0],
        "Communauté d'agglomération Val Parisis"
    );
    let res = console_get(&app, &console.cookie, "/console/reports?tenant=nimes").await;
    assert_eq!(res.status(), 422);
    assert!(error_beside(&page_of(res).await, "tenant").is_some());
}
