//! Mail through a real SMTP server: queued with the change that causes it,
//! delivered once, retried while the server is down, given up on a
//! permanent refusal, in French with its accents, never with injected headers.
//!
//! (Over 400 lines: one self-contained test per behaviour of the outbox and
//! its worker, sharing the harness in `common`.)

use crate::common;

use std::collections::BTreeSet;

use crate::common::{
    assert_problem, create_staff, deliver, login, spawn_app_with, SmtpServer, TestApp, PASSWORD,
};
use diesel::Connection;
use guichet::error::ApiError;
use guichet::mail::{Letter, Template};
use guichet::tenants::Locale;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::{json, Value};

async fn app_with(smtp: &SmtpServer) -> TestApp {
    common::spawn_app_with_smtp(smtp, |_| {}).await
}

fn ack_context(first_name: &str) -> Value {
    json!({
        "first_name": first_name, "reference": "DR-7K3P", "kind_label": "droit à l'effacement",
        "received_at": "2 mars 2026", "due_at": "2 avril 2026",
        "tracking_link": "https://guichet.example/suivi/abc",
    })
}

/// Queues `n` acknowledgements to `to` in one transaction, which fails
/// after queuing when `fail` is set.
async fn queue(app: &TestApp, to: &'static str, n: usize, fail: bool) -> Result<(), ApiError> {
    let state = app.state.clone();
    let now = app.clock.now().naive_utc();
    app.state
        .db
        .run(move |conn| {
            let tenant = state.tenants.get("sevres")?;
            conn.transaction(|conn| {
                for _ in 0..n {
                    let letter = Letter {
                        tenant: Some(&tenant),
                        locale: Locale::Fr,
                        to,
                        template: Template::RequesterAck,
                    };
                    state.mail.enqueue(conn, letter, ack_context("Zoé"), now)?;
                }
                if fail {
                    return Err(ApiError::conflict(
                        "rolled_back",
                        "the business change failed",
                    ));
                }
                Ok(())
            })
        })
        .await
}

#[tokio::test]
async fn a_queued_message_arrives_multipart_in_french_with_its_message_id() {
    let smtp = SmtpServer::start();
    let app = app_with(&smtp).await;
    queue(&app, "zoe.lefevre@example.org", 1, false)
        .await
        .unwrap();
    assert_eq!(
        smtp.messages().len(),
        0,
        "nothing is sent inside the transaction"
    );
    let pass = deliver(&app).await;
    assert_eq!(pass.sent, 1);
    let raw = smtp.messages();
    assert_eq!(raw.len(), 1);
    let msg = MessageParser::default().parse(&raw[0]).unwrap();
    let subject = msg.subject().unwrap();
    assert!(subject.contains("Ville de Sèvres"), "{subject}");
    assert!(subject.contains("DR-7K3P"), "{subject}");
    assert_eq!(
        msg.to().unwrap().first().unwrap().address().unwrap(),
        "zoe.lefevre@example.org"
    );
    let text = msg.body_text(0).unwrap();
    let html = msg.body_html(0).unwrap();
    assert!(text.contains("Zoé"), "{text}");
    assert!(text.contains("effacement"), "{text}");
    assert!(html.contains("<html"), "{html}");
    assert!(
        html.contains("Zoé") || html.contains("Zo&eacute;"),
        "{html}"
    );
    let ct = msg.content_type().unwrap();
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("alternative"));
    let id = msg.message_id().unwrap().to_owned();
    let stored: String = app
        .state
        .db
        .run(|conn| {
            use diesel::prelude::*;
            use guichet::db::schema::mail_outbox::dsl::*;
            Ok(mail_outbox.select(message_id).first::<String>(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(format!("<{id}>"), stored);
    assert_eq!(deliver(&app).await.sent, 0, "delivered once");
    assert!(
        !common::logs().contains("zoe.lefevre@example.org"),
        "no address in the logs"
    );
}

#[tokio::test]
async fn a_rolled_back_change_sends_nothing() {
    let smtp = SmtpServer::start();
    let app = app_with(&smtp).await;
    assert!(queue(&app, "someone@example.org", 3, true).await.is_err());
    assert_eq!(deliver(&app).await.sent, 0);
    assert!(smtp.messages().is_empty());
}

#[tokio::test]
async fn messages_queued_while_smtp_is_down_all_arrive_once_it_is_back() {
    let mut smtp = SmtpServer::start();
    let app = app_with(&smtp).await;
    smtp.stop();
    queue(&app, "burst@example.org", 12, false).await.unwrap();
    let pass = deliver(&app).await;
    assert_eq!((pass.sent, pass.retried, pass.dead), (0, 12, 0));
    // Still down an hour later: retried again, never given up.
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(deliver(&app).await.retried, 12);
    smtp.resume();
    // Not due yet: the backoff holds.
    assert_eq!(deliver(&app).await.sent, 0);
    app.clock.advance(chrono::Duration::hours(2));
    assert_eq!(deliver(&app).await.sent, 12);
    assert_eq!(deliver(&app).await.sent, 0);
    let ids: BTreeSet<String> = smtp
        .messages()
        .iter()
        .map(|m| {
            MessageParser::default()
                .parse(m)
                .unwrap()
                .message_id()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(smtp.messages().len(), 12, "none twice");
    assert_eq!(ids.len(), 12);
}

#[tokio::test]
async fn a_permanent_refusal_is_dead_and_visible_to_operators() {
    let smtp = SmtpServer::start();
    let app = app_with(&smtp).await;
    queue(&app, "reject.me@example.org", 1, false)
        .await
        .unwrap();
    queue(&app, "later.please@example.org", 1, false)
        .await
        .unwrap();
    let pass = deliver(&app).await;
    assert_eq!((pass.sent, pass.retried, pass.dead), (0, 1, 1));

    create_staff(&app, None, "admin@guichet.fr", "admin", PASSWORD).await;
    let token = login(&app, "admin@guichet.fr", PASSWORD).await;
    let res = app
        .client
        .get(app.url("/v1/admin/mail?status=dead"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["total"], 1);
    let item = &body["items"][0];
    assert_eq!(item["status"], "dead");
    assert_eq!(item["recipient"], "r***@example.org");
    assert_eq!(item["tenant"], "sevres");
    let error = item["last_error"].as_str().unwrap();
    assert!(error.contains("550"), "{error}");
    assert!(!error.contains("reject.me@example.org"));
    let pending: Value = app
        .client
        .get(app.url("/v1/admin/mail?status=pending"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(pending["total"], 1);
    assert!(pending["items"][0]["last_error"]
        .as_str()
        .unwrap()
        .contains("451"));

    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("guichet_mail_dead_messages 1"),
        "{metrics}"
    );
    assert!(metrics.contains(r#"guichet_mail_deliveries_total{outcome="dead"} 1"#));
    let res = app
        .client
        .get(app.url("/v1/admin/mail?status=lost"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation_failed").await;
}

#[tokio::test]
async fn two_workers_on_one_outbox_never_send_a_message_twice() {
    let smtp = SmtpServer::start();
    let app = app_with(&smtp).await;
    queue(&app, "many@example.org", 40, false).await.unwrap();
    let (a, b) = (app.state.mail_worker.clone(), app.state.mail_worker.clone());
    let ta = tokio::task::spawn_blocking(move || a.deliver_due().unwrap());
    let tb = tokio::task::spawn_blocking(move || b.deliver_due().unwrap());
    let (pa, pb) = (ta.await.unwrap(), tb.await.unwrap());
    assert_eq!(pa.sent + pb.sent, 40);
    assert_eq!(smtp.messages().len(), 40);
}

#[test]
fn header_injection_is_impossible() {
    let from: lettre::message::Mailbox = "Guichet <no-reply@guichet.localhost>".parse().unwrap();
    let sender = guichet::mail::transport::Sender {
        from: &from,
        name: Some("Ville\r\nBcc: victim@example.org"),
        reply_to: Some("dpo@example.org\r\nBcc: victim@example.org"),
    };
    let message = guichet::mail::transport::build(
        &sender,
        "dpo@example.org",
        "<abc@guichet.localhost>",
        "Demande\r\nBcc: victim@example.org",
        "texte",
        "<p>texte</p>",
    )
    .unwrap();
    let raw = String::from_utf8(message.formatted()).unwrap();
    assert!(
        !raw.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{raw}"
    );
    assert!(guichet::mail::transport::build(
        &sender,
        "a@b.org\r\nBcc: c@d.org",
        "<x@y>",
        "s",
        "t",
        "h"
    )
    .is_err());
}

#[tokio::test]
async fn the_file_transport_writes_eml_files_under_the_data_folder() {
    let app = spawn_app_with(|_| {}, |_| {}).await;
    queue(&app, "fichier@example.org", 2, false).await.unwrap();
    assert_eq!(deliver(&app).await.sent, 2);
    let dir = app.dir.path().join("mail");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 2);
    let raw = std::fs::read(&files[0]).unwrap();
    let msg = MessageParser::default().parse(&raw).unwrap();
    assert!(msg.subject().unwrap().contains("Sèvres"));
}

#[test]
fn mail_test_sends_one_message_through_smtp() {
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GUICHET__MAIL__TRANSPORT", "smtp")
        .env("GUICHET__MAIL__SMTP__HOST", "127.0.0.1")
        .env("GUICHET__MAIL__SMTP__PORT", smtp.port.to_string())
        .env("GUICHET__MAIL__SMTP__TLS", "none")
        .args(["mail", "test", "--to", "ops@example.org"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("sent <"));
    assert_eq!(smtp.messages().len(), 1);

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_guichet"))
        .current_dir(dir.path())
        .env_clear()
        .env("GUICHET__MAIL__TRANSPORT", "smtp")
        .env("GUICHET__MAIL__SMTP__HOST", "127.0.0.1")
        .env("GUICHET__MAIL__SMTP__PORT", smtp.port.to_string())
        .env("GUICHET__MAIL__SMTP__TLS", "none")
        .args(["mail", "test", "--to", "reject@example.org"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("permanent"));
}

async fn digest(app: &TestApp) -> Option<guichet::rights::digest::DigestRun> {
    let digest = app.state.digest.clone();
    tokio::task::spawn_blocking(move || digest.run_due())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn the_daily_digest_lists_due_and_overdue_requests_once_per_day() {
    let smtp = SmtpServer::start();
    let app = app_with(&smtp).await;
    let body = json!({"kind": "access", "first_name": "Ana", "last_name": "Diaz", "email": "ana@example.org", "details": "Copie de mes données."});
    let res = app
        .client
        .post(app.url("/v1/tenants/valparisis/requests"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let reference = res.json::<Value>().await.unwrap()["reference"]
        .as_str()
        .unwrap()
        .to_owned();
    deliver(&app).await;
    let before = smtp.messages().len();

    // Day of submission, after 08:00 in Paris: nothing is due within 7 days.
    let run = digest(&app).await.expect("today's slot runs");
    assert_eq!((run.slot.as_str(), run.sent), ("2026-03-02", 0));
    assert_eq!(digest(&app).await, None, "once a day");

    // 07:59 in Paris on 27 March: not yet; 08:00: the request is due in 6 days.
    app.clock.set("2026-03-27T06:59:00Z".parse().unwrap());
    assert_eq!(digest(&app).await, None);
    app.clock.set("2026-03-27T07:00:00Z".parse().unwrap());
    let (a, b) = (app.state.digest.clone(), app.state.digest.clone());
    let (ra, rb) = tokio::join!(
        tokio::task::spawn_blocking(move || a.run_due().unwrap()),
        tokio::task::spawn_blocking(move || b.run_due().unwrap())
    );
    let runs: Vec<_> = [ra.unwrap(), rb.unwrap()].into_iter().flatten().collect();
    assert_eq!(runs.len(), 1, "two instances, one digest");
    assert_eq!(runs[0].sent, 1, "only the tenant with something due");
    deliver(&app).await;
    let all = smtp.messages();
    assert_eq!(all.len(), before + 1);
    let msg = MessageParser::default().parse(all.last().unwrap()).unwrap();
    assert_eq!(
        msg.to().unwrap().first().unwrap().address().unwrap(),
        "dpo@valparisis.fr"
    );
    let text = msg.body_text(0).unwrap();
    assert!(text.contains(&reference), "{text}");
    assert!(text.contains("2 avril 2026"), "{text}");

    // After the due date: listed as overdue.
    app.clock.set("2026-04-04T07:00:00Z".parse().unwrap());
    assert_eq!(digest(&app).await.unwrap().sent, 1);
    deliver(&app).await;
    let all = smtp.messages();
    let msg = MessageParser::default().parse(all.last().unwrap()).unwrap();
    let subject = msg.subject().unwrap().to_owned();
    assert!(subject.contains("1 en retard"), "{subject}");
    // The window the digest looks ahead, as configured (mail.digest_window_days).
    assert!(subject.contains("à échéance sous 7 jours"), "{subject}");
}

#[tokio::test]
async fn a_citizens_letters_come_in_the_authoritys_name_with_its_reply_to() {
    let smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |s| {
        let nimes = s.tenants.get_mut("nimes").unwrap();
        nimes.mail_from_name = Some("Ville de Nîmes – Protection des données".into());
        nimes.reply_to = Some("donnees@ville-nimes.fr".into());
    })
    .await;
    for tenant in ["sevres", "nimes"] {
        let form = reqwest::multipart::Form::new()
            .text("kind", "access")
            .text("first_name", "Zoé")
            .text("last_name", "Lefèvre")
            .text("email", "zoe@example.org")
            .text("details", "Mes données.")
            .part(
                "id_document",
                reqwest::multipart::Part::bytes(b"%PDF-1.4\n%%EOF\n".to_vec())
                    .file_name("carte.pdf"),
            );
        common::submit_form(&app, tenant, form).await;
    }
    common::deliver(&app).await;
    let mut seen = Vec::new();
    for raw in smtp.messages() {
        let message = MessageParser::default().parse(&raw).unwrap();
        let to = message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default();
        if to != "zoe@example.org" {
            continue;
        }
        let from = message.from().and_then(|a| a.first()).unwrap();
        let reply = message
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|a| a.address());
        seen.push((
            from.name().unwrap_or_default().to_owned(),
            from.address().unwrap_or_default().to_owned(),
            reply.unwrap_or_default().to_owned(),
        ));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "Ville de Nîmes – Protection des données".to_owned(),
                "no-reply@guichet.localhost".to_owned(),
                "donnees@ville-nimes.fr".to_owned()
            ),
            (
                "Ville de Sèvres".to_owned(),
                "no-reply@guichet.localhost".to_owned(),
                "dpo@ville-sevres.fr".to_owned()
            ),
        ],
        "the authority's name, never the software's; replies to its DPO by default"
    );
}
