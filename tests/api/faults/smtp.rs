//! SMTP down for the length of a burst of submissions, then back: every
//! notification of every acknowledged request arrives, none twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use diesel::prelude::*;
use guichet::db::schema::mail_outbox;
use mail_parser::MessageParser;
use reqwest::multipart::{Form, Part};

use super::support::pdf;

/// How long the mail worker may take to get through the burst.
const WAIT: Duration = Duration::from_secs(60);
use crate::common::{self, deliver, SmtpServer, TestApp};

const BURST: usize = 24;
const DPO: &str = "dpo@ville-sevres.fr";

async fn submit(app: &TestApp, i: usize) -> (String, String) {
    let email = format!("burst{i}@example.org");
    let form = Form::new()
        .text("kind", "access")
        .text("first_name", "Camille")
        .text("last_name", "Dubois")
        .text("email", email.clone())
        .text("details", "SECRET-DETAILS of a burst")
        .part(
            "id_document",
            Part::bytes(pdf(8 * 1024, b'a' + (i % 26) as u8)).file_name("carte.pdf"),
        );
    let body = common::submit_form(app, "sevres", form).await;
    (email, body["reference"].as_str().unwrap().to_owned())
}

/// (attempted, pending) messages of the outbox.
async fn outbox(app: &TestApp) -> Vec<(i32, String)> {
    app.state
        .db
        .run(|conn| {
            Ok(mail_outbox::table
                .select((mail_outbox::attempts, mail_outbox::status))
                .load(conn)?)
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "heavy: stops and restarts an SMTP server under load; cargo test -- --include-ignored"]
async fn smtp_down_for_a_burst_of_submissions_then_every_notification_arrives_once() {
    let mut smtp = SmtpServer::start();
    let app = common::spawn_app_with_smtp(&smtp, |s| {
        // The real delivery worker, looking often; the clock stays fixed
        // until the test moves it past the backoff.
        s.mail.worker = true;
        s.mail.poll_interval_ms = 20;
        s.requests.submissions_per_ip_per_hour = 10 * BURST as u32;
    })
    .await;
    smtp.stop();

    let burst = futures_util::future::join_all((0..BURST).map(|i| submit(&app, i))).await;
    // The worker has tried every message and scheduled it again.
    common::wait_until("every message tried while SMTP is down", WAIT, || async {
        let rows = outbox(&app).await;
        rows.len() == 2 * BURST && rows.iter().all(|(n, s)| *n >= 1 && s == "pending")
    })
    .await;
    assert!(smtp.messages().is_empty());

    smtp.resume();
    // Past the longest backoff (`mail.retry_max_secs`).
    app.clock.advance(chrono::Duration::seconds(
        2 * app.state.settings.mail.retry_max_secs as i64,
    ));
    common::wait_until("every message delivered", WAIT, || async {
        outbox(&app).await.iter().all(|(_, s)| s == "sent")
    })
    .await;
    assert_eq!(deliver(&app).await.sent, 0, "nothing left to send");

    let mut to: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut ids = BTreeSet::new();
    let received = smtp.messages();
    for raw in &received {
        let m = MessageParser::default().parse(raw).unwrap();
        ids.insert(m.message_id().unwrap().to_owned());
        let rcpt = m
            .to()
            .unwrap()
            .first()
            .unwrap()
            .address()
            .unwrap()
            .to_owned();
        to.entry(rcpt)
            .or_default()
            .push(m.subject().unwrap().to_owned());
    }
    assert_eq!(received.len(), 2 * BURST, "every notification, none twice");
    assert_eq!(ids.len(), 2 * BURST, "one Message-ID each");
    let dpo = &to[DPO];
    assert_eq!(dpo.len(), BURST);
    for (email, reference) in &burst {
        let theirs = &to[email];
        assert_eq!(theirs.len(), 1, "one acknowledgement for {reference}");
        assert!(theirs[0].contains(reference.as_str()), "{}", theirs[0]);
        assert_eq!(
            dpo.iter()
                .filter(|s| s.contains(reference.as_str()))
                .count(),
            1,
            "one notice to the DPO for {reference}"
        );
    }
    // No stray message either: DPO plus one requester per submission.
    assert_eq!(to.len(), BURST + 1);
}
