//! What clients do across instances: banners, citizens, a DPO through
//! the API and through the console, spread across the instances' ports:
//! what one instance wrote, another reads, and a third acts on.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

use crate::common::cluster::{eventually, json_of, received, tracking_tokens, Cluster};
use crate::common::pages::{hidden, pair, set_cookie};
use crate::common::{SmtpServer, PASSWORD};

pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nCNI-INSTANCES\n%%EOF\n";
pub const DPO: &str = "dpo@ville-sevres.fr";

/// Consents recorded on one instance are read, listed and withdrawn on the
/// others; every receipt verifies with the keys another instance publishes.
pub async fn consents_on_any_instance(c: &Cluster) {
    let mut posts = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (client, url) = (c.client.clone(), c.url(i, "/v1/tenants/sevres/consents"));
        let choices = json!({"audience": i % 2 == 0, "twitter": i % 3 == 0});
        posts.spawn(async move {
            let body = json!({"subject_id": uuid::Uuid::new_v4(), "policy_version": "2026-01", "choices": choices});
            (i, client.post(url).json(&body).send().await.unwrap())
        });
    }
    let mut given = Vec::new();
    while let Some(done) = posts.join_next().await {
        let (i, res) = done.unwrap();
        given.push((i, json_of(res, 201).await));
    }
    for (i, body) in &given {
        let subject = body["subject_id"].as_str().unwrap();
        let path = format!("/v1/tenants/sevres/consents/{subject}");
        let read = json_of(c.client.get(c.url(i + 1, &path)).send().await.unwrap(), 200).await;
        assert_eq!(read["consent_id"], body["consent_id"]);
        assert_eq!(read["choices"], body["choices"]);
        let jwks = c
            .client
            .get(c.url(i + 2, "/.well-known/jwks.json"))
            .send()
            .await
            .unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet = jwks.json().await.unwrap();
        let receipt = body["receipt"].as_str().unwrap();
        let kid = jsonwebtoken::decode_header(receipt).unwrap().kid.unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).expect("published")).unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Value>(receipt, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["jti"], body["consent_id"]);
    }
    let (i, body) = &given[0];
    let path = format!(
        "/v1/tenants/sevres/consents/{}",
        body["subject_id"].as_str().unwrap()
    );
    let res = c.client.delete(c.url(i + 1, &path)).send().await.unwrap();
    assert_eq!(res.status(), 204);
    for other in [i + 2, *i] {
        let res = c.client.get(c.url(other, &path)).send().await.unwrap();
        assert_eq!(res.status(), 404, "withdrawn everywhere");
    }
    let history = json_of(
        c.client
            .get(c.url(i + 2, &format!("{path}/history")))
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    let events: Vec<_> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].clone())
        .collect();
    assert_eq!(events, [json!("given"), json!("withdrawn")]);
}

fn form(email: &str) -> Form {
    Form::new()
        .text("kind", "access")
        .text("first_name", "Zoé")
        .text("last_name", "Dubois")
        .text("email", email.to_owned())
        .text("details", "Copie de mes données. SECRET-DETAILS")
        .part(
            "id_document",
            Part::bytes(PDF.to_vec()).file_name("carte.pdf"),
        )
}

/// Submissions on every instance; a DPO signed in on one works a request
/// on the others with the same token; the citizen sends the identity
/// document asked for on yet another one.
pub async fn requests_on_any_instance(c: &Cluster, smtp: &SmtpServer) -> Vec<Value> {
    let mut submissions = tokio::task::JoinSet::new();
    for i in 0..9 {
        let (client, url) = (c.client.clone(), c.url(i, "/v1/tenants/sevres/requests"));
        submissions.spawn(async move {
            let res = client
                .post(url)
                .multipart(form(&format!("demandeur{i}@example.org")))
                .send()
                .await
                .unwrap();
            (i, res)
        });
    }
    let mut submitted = BTreeMap::new();
    while let Some(done) = submissions.join_next().await {
        let (i, res) = done.unwrap();
        submitted.insert(i, json_of(res, 201).await);
    }
    let references: BTreeSet<String> = submitted
        .values()
        .map(|s| s["reference"].to_string())
        .collect();
    assert_eq!(references.len(), 9, "references unique across instances");

    let login = c
        .client
        .post(c.url(1, "/v1/auth/login"))
        .json(&json!({"email": DPO, "password": PASSWORD}));
    let token = json_of(login.send().await.unwrap(), 200).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..3 {
        let res = c
            .client
            .get(c.url(i, "/v1/dpo/requests"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            json_of(res, 200).await["total"],
            9,
            "the queue on instance {i}"
        );
    }
    let first = &submitted[&0];
    let id = first["id"].as_str().unwrap();
    let move_to = |i: usize, body: Value| {
        let url = c.url(i, &format!("/v1/dpo/requests/{id}/transitions"));
        c.client.post(url).bearer_auth(&token).json(&body).send()
    };
    json_of(move_to(2, json!({"to": "in_progress"})).await.unwrap(), 200).await;
    let asked = json!({"to": "awaiting_identity", "note": "Pièce illisible."});
    json_of(move_to(0, asked).await.unwrap(), 200).await;
    // The new tracking link comes by e-mail, from whichever instance sent it.
    let first_token = first["tracking_token"].as_str().unwrap().to_owned();
    let mut new_token = None;
    eventually("the request for an identity document", || {
        new_token = received(smtp)
            .into_iter()
            .filter(|m| m.1 == "demandeur0@example.org" && m.2.contains("Pièce illisible."))
            .flat_map(|m| tracking_tokens(&m.2))
            .find(|t| *t != first_token);
        new_token.is_some()
    })
    .await;
    let new_token = new_token.unwrap();
    let upload = Form::new().part(
        "id_document",
        Part::bytes(PDF.to_vec()).file_name("cni.pdf"),
    );
    let url = c.url(1, &format!("/v1/requests/track/{new_token}/documents"));
    let res = c.client.post(url).multipart(upload).send().await.unwrap();
    assert_eq!(json_of(res, 201).await["status"], "received");
    let track = c
        .client
        .get(c.url(2, &format!("/v1/requests/track/{new_token}")));
    let tracked = json_of(
        track
            .header("accept", "application/json")
            .send()
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(tracked["status"], "received");
    let steps: Vec<_> = tracked["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        steps,
        ["received", "in_progress", "awaiting_identity", "received"],
        "the timeline written by three instances"
    );

    let detail = c
        .client
        .get(c.url(0, &format!("/v1/dpo/requests/{id}")))
        .bearer_auth(&token);
    let detail = json_of(detail.send().await.unwrap(), 200).await;
    let docs = detail["documents"].as_array().unwrap();
    assert_eq!(
        docs.len(),
        2,
        "the first document and the one sent on request"
    );
    for (i, doc) in docs.iter().enumerate() {
        let path = format!(
            "/v1/dpo/requests/{id}/documents/{}",
            doc["id"].as_str().unwrap()
        );
        let res = c
            .client
            .get(c.url(i + 1, &path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.bytes().await.unwrap(),
            PDF,
            "decrypted by another instance"
        );
    }
    let url = c.url(2, &format!("/v1/dpo/requests/{id}/messages"));
    let res = c
        .client
        .post(url)
        .bearer_auth(&token)
        .json(&json!({"body": "Bonne journée."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    json_of(move_to(0, json!({"to": "in_progress"})).await.unwrap(), 200).await;
    json_of(
        move_to(1, json!({"to": "completed", "note": "Copie envoyée."}))
            .await
            .unwrap(),
        200,
    )
    .await;
    submitted.into_values().collect()
}

/// The console: signed in through one instance's form posted to another,
/// the session read by a third, a form of it accepted by the first.
pub async fn console_on_any_instance(c: &Cluster, submitted: &[Value]) {
    let form = c
        .client
        .get(c.url(0, "/console/login"))
        .send()
        .await
        .unwrap();
    let nonce = pair(&set_cookie(&form, "guichet_login").expect("the form's cookie"));
    let csrf = hidden(&form.text().await.unwrap(), "csrf");
    let fields = [
        ("csrf", csrf.as_str()),
        ("next", "/console"),
        ("email", DPO),
        ("password", PASSWORD),
    ];
    let res = c
        .client
        .post(c.url(1, "/console/login"))
        .header("cookie", &nonce)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "signed in on another instance than the form's"
    );
    let session = pair(&set_cookie(&res, "guichet_console").expect("a session"));
    let queue = c
        .client
        .get(c.url(2, "/console"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(queue.status(), 200);
    let html = queue.text().await.unwrap();
    let reference = submitted[1]["reference"].as_str().unwrap();
    assert!(html.contains(reference), "the queue lists {reference}");

    let id = submitted[1]["id"].as_str().unwrap();
    let page = c
        .client
        .get(c.url(2, &format!("/console/requests/{id}")))
        .header("cookie", &session);
    let csrf = hidden(&page.send().await.unwrap().text().await.unwrap(), "csrf");
    let url = c.url(0, &format!("/console/requests/{id}/transition"));
    let fields = [("to", "in_progress"), ("csrf", csrf.as_str())];
    let res = c
        .client
        .post(url)
        .header("cookie", &session)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        303,
        "the form of one instance's page accepted by another"
    );
}
