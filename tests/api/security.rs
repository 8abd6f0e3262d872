//! Attacks a hostile client can try through HTTP, and what the service
//! answers: another tenant's ids, rewritten tokens, hostile uploads, SQL
//! meta-characters and header injection in what goes into e-mails.
//! (Bad tokens, the login lock, CORS and the zip bomb named `.pdf` have
//! their own tests in `staff.rs`, `consent.rs` and `requests.rs`.)
//!
//! (Over 400 lines: one self-contained test per behaviour of this suite,
//! sharing the harness in `common`; split, a suite would be read in pieces.)

use crate::common;

use crate::common::{
    assert_problem, create_staff, deliver, dpo, get, post, SmtpServer, TestApp, PASSWORD,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

async fn submit(
    app: &TestApp,
    tenant: &str,
    fields: &[(&str, &str)],
    files: Vec<(&str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    for (name, bytes) in files {
        form = form.part("id_document", Part::bytes(bytes).file_name(name.to_owned()));
    }
    app.client
        .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn access(email: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kind", "access".into()),
        ("first_name", "Camille".into()),
        ("last_name", "Dubois".into()),
        ("email", email.into()),
        ("details", "Une copie de mes données.".into()),
    ]
}

async fn submitted(app: &TestApp, tenant: &str, fields: &[(&str, &str)]) -> Value {
    let res = submit(app, tenant, fields, vec![("carte.pdf", PDF.to_vec())]).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    res.json().await.unwrap()
}

fn pairs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn every_staff_route_answers_404_for_another_tenants_ids_and_changes_nothing() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    // Dunkerque's request, with a document, a consent and a suppressed address.
    let theirs = submitted(&app, "dunkerque", &pairs(&access("cible@example.org"))).await;
    let their_id = theirs["id"].as_str().unwrap().to_owned();
    let ours = submitted(&app, "sevres", &pairs(&access("voisin@example.org"))).await;
    let our_id = ours["id"].as_str().unwrap().to_owned();
    let dunkerque = dpo(&app, "dunkerque", "dpo@cud.fr").await;
    let sevres = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let detail: Value = get(&app, &dunkerque, &format!("/v1/dpo/requests/{their_id}"))
        .await
        .json()
        .await
        .unwrap();
    let their_doc = detail["documents"][0]["id"].as_str().unwrap().to_owned();
    let ours_detail: Value = get(&app, &sevres, &format!("/v1/dpo/requests/{our_id}"))
        .await
        .json()
        .await
        .unwrap();
    let our_doc = ours_detail["documents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let policy: Value = app
        .get("/v1/tenants/dunkerque/consent-policy")
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/v1/tenants/dunkerque/consents"))
        .json(&json!({"policy_version": policy["policy_version"], "choices": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let opposition = [
        ("kind", "opposition"),
        ("scope", "prospection"),
        ("first_name", "Camille"),
        ("last_name", "Dubois"),
        ("email", "liste@example.org"),
        ("details", "Plus de lettre d'information."),
    ];
    let opp = submitted(&app, "dunkerque", &opposition).await;
    let res = post(
        &app,
        &dunkerque,
        &format!(
            "/v1/dpo/requests/{}/transitions",
            opp["id"].as_str().unwrap()
        ),
        json!({"to": "completed"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let timeline_before = detail["events"].as_array().unwrap().len();

    // Every route that takes an id, with Dunkerque's ids and Sèvres' token.
    let r = format!("/v1/dpo/requests/{their_id}");
    for path in [
        r.clone(),
        format!("{r}/documents/{their_doc}"),
        // Sèvres' own request with Dunkerque's document: still nothing.
        format!("/v1/dpo/requests/{our_id}/documents/{their_doc}"),
        // Dunkerque's request with Sèvres' document.
        format!("{r}/documents/{our_doc}"),
    ] {
        assert_problem(get(&app, &sevres, &path).await, 404, "not_found").await;
    }
    for (path, body) in [
        (format!("{r}/transitions"), json!({"to": "in_progress"})),
        (
            format!("{r}/transitions"),
            json!({"to": "rejected", "reason": "x"}),
        ),
        (
            format!("{r}/extension"),
            json!({"reason": "Demande complexe."}),
        ),
        (format!("{r}/messages"), json!({"body": "Bonjour"})),
    ] {
        assert_problem(post(&app, &sevres, &path, body).await, 404, "not_found").await;
    }
    // Lists show Sèvres' data only (another tenant asked for by name is one
    // Sèvres' DPO does not know: below).
    for path in ["/v1/dpo/requests", "/v1/dpo/requests?q=Dubois"] {
        let body: Value = get(&app, &sevres, path).await.json().await.unwrap();
        let ids: Vec<&str> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, vec![our_id.as_str()], "{path}");
    }
    let listed: Value = get(
        &app,
        &sevres,
        "/v1/dpo/suppression/check?email=liste@example.org",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(listed["listed"], false, "another tenant's suppression list");
    let listed: Value = get(
        &app,
        &dunkerque,
        "/v1/dpo/suppression/check?email=liste@example.org",
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(listed["listed"], true);
    // Another tenant's readings, asked for by name: a tenant Sèvres' DPO
    // does not know.
    for path in [
        "/v1/dpo/requests?tenant=dunkerque",
        "/v1/dpo/reports/requests?tenant=dunkerque",
        "/v1/dpo/audit?tenant=dunkerque",
        "/v1/dpo/consents/stats?tenant=dunkerque",
        "/v1/dpo/consents/export?tenant=dunkerque",
        "/v1/dpo/retention/runs?tenant=dunkerque",
        "/v1/dpo/suppression/check?email=liste@example.org&tenant=dunkerque",
    ] {
        assert_problem(get(&app, &sevres, path).await, 404, "not_found").await;
    }
    let stats: Value = get(&app, &sevres, "/v1/dpo/consents/stats")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        stats["items"].as_array().unwrap().is_empty(),
        "Sèvres has no consent: {stats}"
    );
    let csv = get(&app, &sevres, "/v1/dpo/consents/export")
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1, "the header line only: {csv}");
    // Admin routes are not a DPO's, with any id.
    let admin_id = create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    assert_problem(
        post(
            &app,
            &sevres,
            &format!("/v1/admin/users/{admin_id}/disable"),
            json!({}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    for path in ["/v1/admin/users", "/v1/admin/mail"] {
        assert_problem(get(&app, &sevres, path).await, 403, "forbidden").await;
    }
    let res = app
        .client
        .put(app.url(&format!("/v1/admin/users/{admin_id}/tenants")))
        .bearer_auth(&sevres)
        .json(&json!({"tenants": ["sevres", "dunkerque"]}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "forbidden").await;

    // Nothing moved on Dunkerque's side, and no message left for its citizen.
    let after: Value = get(&app, &dunkerque, &r).await.json().await.unwrap();
    assert_eq!(after["status"], "received");
    assert_eq!(after["extended"], false);
    assert_eq!(after["events"].as_array().unwrap().len(), timeline_before);
    deliver(&app).await;
    let to_target = smtp
        .messages()
        .iter()
        .filter(|m| String::from_utf8_lossy(m).contains("cible@example.org"))
        .count();
    assert_eq!(to_target, 1, "the acknowledgement only");
    // The document openings journaled are Dunkerque's DPO's own.
    let journal: Value = get(&app, &dunkerque, "/v1/dpo/audit?kind=document.opened")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(journal["total"], 0, "{journal}");
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn sign(app: &TestApp, claims: &Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(app.state.secrets.jwt.bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn a_token_whose_tenant_or_role_was_rewritten_is_refused_even_well_signed() {
    let app = common::spawn_app().await;
    let ours = submitted(&app, "dunkerque", &pairs(&access("cible@example.org"))).await;
    let sevres = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    assert_eq!(get(&app, &sevres, "/v1/dpo/requests").await.status(), 200);
    let c = claims(&sevres);
    assert_eq!(c["tenant"], "sevres");

    // Even with the signing key, a token cannot move its holder to another
    // tenant, out of every tenant, or up to admin.
    let mut other_tenant = c.clone();
    other_tenant["tenant"] = json!("dunkerque");
    let mut no_tenant = c.clone();
    no_tenant.as_object_mut().unwrap().remove("tenant");
    let mut admin = c.clone();
    admin["role"] = json!("admin");
    let mut expired = c.clone();
    expired["exp"] = json!(app.clock.now().timestamp() - 1);
    let id = ours["id"].as_str().unwrap();
    for (what, forged) in [
        ("other tenant", other_tenant),
        ("no tenant", no_tenant),
        ("admin role", admin),
        ("expired", expired),
    ] {
        let token = sign(&app, &forged);
        for path in [
            "/v1/dpo/requests".to_owned(),
            format!("/v1/dpo/requests/{id}"),
            "/v1/admin/users".to_owned(),
        ] {
            let res = get(&app, &token, &path).await;
            assert_eq!(res.status(), 401, "{what} on {path}");
            assert_eq!(
                res.headers()["www-authenticate"],
                "Bearer",
                "{what} on {path}"
            );
        }
    }
    // The genuine token still works.
    assert_eq!(get(&app, &sevres, "/v1/dpo/requests").await.status(), 200);
}

#[tokio::test]
async fn hostile_uploads_are_refused_or_kept_inert() {
    let app = common::spawn_app_with(|s| s.requests.max_document_bytes = 256 * 1024, |_| {}).await;
    let fields = access("upload@example.org");
    let f = pairs(&fields);
    // Refused by their bytes, whatever their name says.
    let html_then_pdf = [b"<html><script>alert(1)</script>".as_slice(), PDF].concat();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>".to_vec();
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0".to_vec();
    let gzip = [vec![0x1f, 0x8b, 0x08, 0x00], vec![0; 64]].concat();
    for (name, bytes) in [
        ("carte.pdf", html_then_pdf),
        ("photo.png", svg),
        ("carte.pdf", elf),
        ("carte.pdf.gz", gzip),
        ("vide.pdf", Vec::new()),
    ] {
        let res = submit(&app, "sevres", &f, vec![(name, bytes)]).await;
        assert_problem(res, 415, "unsupported_media_type").await;
    }
    // Over the limit, even when the declared length lies by omission (a
    // stream of unknown size): 413, and the service goes on.
    let endless = futures_util::stream::iter((0..64).map(|i| {
        Ok::<_, std::io::Error>(if i == 0 {
            PDF.to_vec()
        } else {
            vec![b' '; 16 * 1024]
        })
    }));
    let form = fields
        .iter()
        .fold(Form::new(), |f, (k, v)| f.text(*k, v.clone()));
    let form = form.part(
        "id_document",
        Part::stream(reqwest::Body::wrap_stream(endless)).file_name("gros.pdf"),
    );
    let res = app
        .client
        .post(app.url("/v1/tenants/sevres/requests"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_problem(res, 413, "payload_too_large").await;

    // A polyglot: a real PDF beginning that also carries HTML and a zip.
    // Accepted as the PDF it starts as, it is only ever handed back as an
    // attachment that no browser may sniff, render or script.
    let polyglot = [
        PDF,
        b"<html><body><script>alert(document.cookie)</script></body></html>",
        b"PK\x03\x04\x14\0\0\0\x08\0",
    ]
    .concat();
    // A line break in the part's headers makes the form unreadable: 400.
    let res = submit(
        &app,
        "sevres",
        &f,
        vec![("a\r\nX-Evil: 1\r\n.pdf", PDF.to_vec())],
    )
    .await;
    assert_problem(res, 400, "malformed_request").await;
    let traversal = "../..\\..\\windows\\system32\\.carte.pdf";
    let res = submit(&app, "sevres", &f, vec![(traversal, polyglot.clone())]).await;
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let detail: Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    let doc = &detail["documents"][0];
    let name = doc["filename"].as_str().unwrap();
    assert!(
        !name.contains(['/', '\\', '\u{7}']) && !name.starts_with('.'),
        "a display name, not a path: {name:?}"
    );
    assert_eq!(doc["content_type"], "application/pdf");
    let res = get(
        &app,
        &token,
        &format!(
            "/v1/dpo/requests/{id}/documents/{}",
            doc["id"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "application/pdf");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(
        !disposition.contains(['\\', '/', '\r', '\n']),
        "{disposition}"
    );
    assert_eq!(res.bytes().await.unwrap().as_ref(), polyglot.as_slice());
}

#[tokio::test]
async fn sql_meta_characters_are_stored_and_searched_literally() {
    let app = common::spawn_app().await;
    let last = "O'Brien\"); DROP TABLE rights_requests; --";
    let details = "100% de mes données_ \\ ' \" ; -- /* */ %_%";
    let fields = [
        ("kind", "access"),
        ("first_name", "Zoé"),
        ("last_name", last),
        ("email", "o.brien+tag@example.org"),
        ("details", details),
    ];
    let res = submitted(&app, "sevres", &fields).await;
    let id = res["id"].as_str().unwrap().to_owned();
    submitted(&app, "sevres", &pairs(&access("autre@example.org"))).await;
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let detail: Value = get(&app, &token, &format!("/v1/dpo/requests/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(detail["last_name"], last, "{detail}");
    assert_eq!(detail["email"], "o.brien+tag@example.org");
    assert_eq!(detail["details"], details, "{detail}");
    // SQL in the login fields is just a wrong e-mail address.
    let res = app
        .client
        .post(app.url("/v1/auth/login"))
        .json(&json!({"email": "' OR '1'='1' --", "password": "' OR '1'='1"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 401, "unauthorized").await;
    // The table is still there, with both requests.
    let all: Value = get(&app, &token, "/v1/dpo/requests")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["total"], 2);
    // Wildcards and quotes in a search are characters, not patterns.
    for (q, expected) in [
        ("%25", 0),
        ("_", 0),
        ("%27", 0),
        ("O%27Brien", 1),
        ("%5C", 0),
        ("*", 0),
    ] {
        let res = get(&app, &token, &format!("/v1/dpo/requests?q={q}")).await;
        assert_eq!(res.status(), 200, "q={q}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["total"], expected, "q={q}: {body}");
    }
}

#[tokio::test]
async fn line_breaks_in_what_reaches_an_email_never_make_a_header() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |_| {}).await;
    for (field, value) in [
        ("email", "cible@example.org\r\nBcc: pirate@evil.example"),
        ("email", "cible@example.org\nBcc: pirate@evil.example"),
        ("first_name", "Camille\r\nBcc: pirate@evil.example"),
        ("last_name", "Dubois\r\nSubject: gagné"),
    ] {
        let mut f = access("cible@example.org");
        f.retain(|(k, _)| *k != field);
        f.push((field, value.into()));
        let res = submit(
            &app,
            "sevres",
            &pairs(&f),
            vec![("carte.pdf", PDF.to_vec())],
        )
        .await;
        let body = assert_problem(res, 422, "validation_failed").await;
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    // A DPO's message keeps its line breaks in the body, never in a header.
    let ok = submitted(&app, "sevres", &pairs(&access("cible@example.org"))).await;
    let token = dpo(&app, "sevres", "dpo@ville-sevres.fr").await;
    let res = post(
        &app,
        &token,
        &format!("/v1/dpo/requests/{}/messages", ok["id"].as_str().unwrap()),
        json!({"body": "Bonjour\r\nBcc: pirate@evil.example\r\n\r\nSuite"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    deliver(&app).await;
    let messages = smtp.messages();
    assert_eq!(messages.len(), 3, "DPO notice, acknowledgement, message");
    for raw in &messages {
        let m = mail_parser::MessageParser::default().parse(raw).unwrap();
        assert!(m.bcc().is_none(), "no Bcc header");
        let to: Vec<_> = m.to().unwrap().iter().filter_map(|a| a.address()).collect();
        assert_eq!(to.len(), 1);
        assert!(!to[0].contains("evil"), "{to:?}");
    }
}
