//! What the page tests share: reading headers, cookies and forms from
//! pages, the citizen's form, and a signed-in console.

use reqwest::multipart::{Form, Part};
use reqwest::Response;

use crate::common::{TestApp, PASSWORD};

pub const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'";

pub fn header(res: &Response, name: &str) -> String {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `Set-Cookie` header of `name`, whole (value and attributes).
pub fn set_cookie(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// `name=value` of a `Set-Cookie` header, for a `Cookie` header.
pub fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or("").to_owned()
}

/// A page's HTML, with the slashes that autoescaping writes `&#x2f;` back
/// to themselves (as a browser reads them), for the assertions.
pub async fn page_of(res: Response) -> String {
    res.text().await.unwrap().replace("&#x2f;", "/")
}

/// The value of the hidden input `name` in a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden field") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub fn citizen_form(fields: &[(&'static str, &str)], documents: usize) -> Form {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(*k, v.to_string());
    }
    for _ in 0..documents {
        form = form.part(
            "id_document",
            Part::bytes(PDF.to_vec())
                .file_name("cni.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    }
    // The second file input, left empty, as a browser sends it.
    form.part("id_document", Part::bytes(Vec::new()).file_name(""))
}

pub const ERASURE: &[(&str, &str)] = &[
    ("kinds", "erasure"),
    ("first_name", "Zoé"),
    ("last_name", "Lefèvre"),
    ("email", "zoe@example.org"),
    ("details", "Merci d'effacer mon compte famille."),
];

/// Two rights ticked at once, by a parent for her child.
pub const TWO_RIGHTS_FOR_A_CHILD: &[(&str, &str)] = &[
    ("kinds", "access"),
    ("kinds", "erasure"),
    ("first_name", "Zoé"),
    ("last_name", "Lefèvre"),
    ("email", "zoe@example.org"),
    ("details", "Les données de ma fille sur le portail famille."),
    ("on_behalf_of.first_name", "Louise"),
    ("on_behalf_of.last_name", "Lefèvre"),
    ("on_behalf_of.relation", "parent"),
];

/// The references a page lists in its table of the submission's requests
/// (`table#case`), in order.
pub fn case_references(html: &str) -> Vec<String> {
    let Some(start) = html.find("<table class=\"case\"") else {
        return Vec::new();
    };
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    table
        .split("<span class=\"reference\">")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_owned())
        .collect()
}

/// Posts the citizen's form of `tenant` with `fields` and `documents`.
pub async fn post_citizen_form(
    app: &TestApp,
    tenant: &str,
    fields: &[(&'static str, &str)],
    documents: usize,
) -> Response {
    post_citizen_multipart(app, tenant, citizen_form(fields, documents)).await
}

/// Posts `form` as the citizen's form of `tenant`.
pub async fn post_citizen_multipart(app: &TestApp, tenant: &str, form: Form) -> Response {
    app.client
        .post(app.url(&format!("/t/{tenant}/droits")))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The error a form page shows beside the field `f-{field}`, if any.
pub fn error_beside(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"f-{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let error = html[start..].split("</p>").next()?;
    Some(error.replace("<span class=\"sr-only\">Erreur : </span>", ""))
}

/// Submits the citizen's form; returns the tracking token from the
/// confirmation address.
pub async fn submit(app: &TestApp, tenant: &str) -> String {
    submit_with(app, tenant, ERASURE, 1).await
}

/// Submits the citizen's form with `fields` and `documents`; returns the
/// tracking token from the confirmation address.
pub async fn submit_with(
    app: &TestApp,
    tenant: &str,
    fields: &[(&'static str, &str)],
    documents: usize,
) -> String {
    let res = post_citizen_form(app, tenant, fields, documents).await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let location = header(&res, "location");
    let prefix = format!("/t/{tenant}/droits/confirmation/");
    assert!(location.starts_with(&prefix), "{location}");
    location[prefix.len()..].to_owned()
}

pub async fn request_id(app: &TestApp, token: &str) -> String {
    let hash = guichet::rights::store::token_hash(token);
    app.state
        .db
        .run(move |conn| Ok(guichet::rights::store::find_by_tracking(conn, &hash)?))
        .await
        .unwrap()
        .expect("the request")
        .id
}

/// The requests a tracking token follows (one per right of its
/// submission): `(id, reference)`, in the order asked.
pub async fn case_of(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let hash = guichet::rights::store::token_hash(token);
    app.state
        .db
        .run(move |conn| {
            let row = guichet::rights::store::find_by_tracking(conn, &hash)?.expect("the request");
            let case = row.case_id.expect("a case");
            Ok(guichet::rights::related::case_rows(conn, &case)?)
        })
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.reference))
        .collect()
}

/// A signed-in console: its cookie header and the CSRF token of its forms.
pub struct Console {
    pub cookie: String,
    pub csrf: String,
}

/// Opens `/console/login{query}` and posts its form, with `next`, as
/// `email`; returns the `next` the page carried and the answer.
pub async fn post_sign_in(
    app: &TestApp,
    email: &str,
    query: &str,
    next: &str,
) -> (String, Response) {
    let res = app.get(&format!("/console/login{query}")).await;
    assert_eq!(res.status(), 200);
    let nonce = pair(&set_cookie(&res, "guichet_login").expect("the sign-in nonce"));
    let html = page_of(res).await;
    let res = app
        .client
        .post(app.url("/console/login"))
        .header("cookie", &nonce)
        .form(&[
            ("csrf", hidden(&html, "csrf").as_str()),
            ("next", next),
            ("email", email),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    (hidden(&html, "next"), res)
}

pub async fn sign_in(app: &TestApp, email: &str) -> Console {
    let (_, res) = post_sign_in(app, email, "", "/console").await;
    assert_eq!(res.status(), 303, "{}", page_of(res).await);
    let cookie = pair(&set_cookie(&res, "guichet_console").expect("the session cookie"));
    let page = console_get(app, &cookie, "/console").await;
    assert_eq!(page.status(), 200);
    let csrf = hidden(&page.text().await.unwrap(), "csrf");
    Console { cookie, csrf }
}

pub async fn console_get(app: &TestApp, cookie: &str, path: &str) -> Response {
    app.client
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// The HTML of a console page, which must answer 200.
pub async fn console_page(app: &TestApp, cookie: &str, path: &str) -> String {
    let res = console_get(app, cookie, path).await;
    assert_eq!(res.status(), 200, "{path}");
    page_of(res).await
}

pub async fn console_post(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &[(&str, &str)],
) -> Response {
    app.client
        .post(app.url(path))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap()
}

pub async fn status_of(app: &TestApp, id: &str) -> String {
    let id = id.to_owned();
    app.state
        .db
        .run(move |conn| Ok(guichet::rights::store::find(conn, &id)?))
        .await
        .unwrap()
        .unwrap()
        .status
        .as_str()
        .to_owned()
}
