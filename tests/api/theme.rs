//! Each tenant's face: its accent colour and logo on its pages (and its
//! colour in its letters), the logo and stylesheet served from memory for
//! browsers to keep, the default look for a tenant without a theme, and
//! the start refused, naming the field, for a theme that cannot be.

use std::path::{Path, PathBuf};

use crate::common::pages::{header, page_of};
use crate::common::{self, SmtpServer, TestApp};
use crate::startup::{one_line_error, run};
use serde_json::json;

/// A 1×1 PNG of the accent's green.
const PNG: &[u8] = b"\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90\x77\x53\xde\x00\x00\x00\x0c\x49\x44\x41\x54\x78\x9c\x63\x90\x8a\xb1\x00\x00\x01\x42\x00\xaf\x82\x80\xd2\x6f\x00\x00\x00\x00\x49\x45\x4e\x44\xae\x42\x60\x82";
const SVG: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#005f73"/></svg>
"##;
const ACCENT: &str = "#1a5c38";

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Sèvres with a green accent and a PNG logo, Dunkerque with an SVG logo
/// only, Nîmes with no theme at all.
async fn themed_app(logos: &Path, smtp: Option<&SmtpServer>) -> TestApp {
    let png = write(logos, "sevres.png", PNG);
    let svg = write(logos, "dunkerque.svg", SVG.as_bytes());
    let adjust = move |s: &mut guichet::config::Settings| {
        let theme = &mut s.tenants.get_mut("sevres").unwrap().theme;
        theme.accent_color = Some(ACCENT.to_uppercase());
        theme.logo = Some(png);
        let theme = &mut s.tenants.get_mut("dunkerque").unwrap().theme;
        theme.accent_color = None;
        theme.logo = Some(svg);
        s.tenants.get_mut("nimes").unwrap().theme = Default::default();
        // The letters' test submits without an identity document.
        for slug in ["sevres", "nimes"] {
            s.tenants.get_mut(slug).unwrap().require_id_document = false;
        }
        s.requests.submissions_per_ip_per_hour = 1000;
    };
    match smtp {
        Some(smtp) => common::spawn_app_with_smtp(smtp, adjust).await,
        None => common::spawn_app_with(adjust, |_| {}).await,
    }
}

/// The address in `attribute="…"` of the element that `marker` begins.
fn address_after(html: &str, marker: &str, attribute: &str) -> Option<String> {
    let start = html.find(marker)?;
    let rest = &html[start..];
    let at = rest.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    Some(rest[at..].split('"').next()?.replace("&amp;", "&"))
}

#[tokio::test]
async fn a_tenants_accent_and_logo_are_on_its_pages_and_served_to_be_kept() {
    let logos = tempfile::tempdir().unwrap();
    let app = themed_app(logos.path(), None).await;

    for path in ["/t/sevres/droits", "/t/sevres/accessibilite"] {
        let html = page_of(app.get(path).await).await;
        let css = address_after(&html, "<link rel=\"stylesheet\" href=\"/t/", "href")
            .unwrap_or_else(|| panic!("{path} links its theme: {html}"));
        assert!(css.starts_with("/t/sevres/theme.css?v="), "{css}");
        let logo = address_after(&html, "<img class=\"logo\"", "src").expect("the logo");
        assert!(logo.starts_with("/t/sevres/logo?v="), "{logo}");
        assert!(
            html.contains("alt=\"Logo : Ville de Sèvres\""),
            "the logo says whose it is: {html}"
        );
    }
    let html = page_of(app.get("/t/sevres/droits").await).await;
    let css_url = address_after(&html, "<link rel=\"stylesheet\" href=\"/t/", "href").unwrap();
    let logo_url = address_after(&html, "<img class=\"logo\"", "src").unwrap();

    // The stylesheet sets the accent, for browsers to keep.
    let res = app.get(&css_url).await;
    assert_eq!(res.status(), 200);
    assert!(header(&res, "content-type").starts_with("text/css"));
    assert_eq!(header(&res, "cache-control"), "public, max-age=86400");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let etag = header(&res, "etag");
    assert!(
        css_url.ends_with(etag.trim_matches('"')),
        "{css_url} {etag}"
    );
    let css = res.text().await.unwrap();
    assert!(css.contains(&format!("--accent: {ACCENT};")), "{css}");
    assert!(css.contains("--accent-soft: #"), "{css}");

    // The logo: its own bytes and type, kept a day, revalidated by its
    // ETag.
    let res = app.get(&logo_url).await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "image/png");
    assert_eq!(header(&res, "cache-control"), "public, max-age=86400");
    assert_eq!(header(&res, "x-content-type-options"), "nosniff");
    let etag = header(&res, "etag");
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    assert_eq!(&res.bytes().await.unwrap()[..], PNG);
    let res = app
        .client
        .get(app.url("/t/sevres/logo"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(header(&res, "etag"), etag);
    assert!(res.bytes().await.unwrap().is_empty());

    // Read once at start: the file may go, the logo stays.
    std::fs::remove_file(logos.path().join("sevres.png")).unwrap();
    let res = app.get("/t/sevres/logo").await;
    assert_eq!(res.status(), 200);

    // An SVG logo: an image on the page, and a document that may run
    // nothing when opened alone.
    let html = page_of(app.get("/t/dunkerque/droits").await).await;
    assert!(html.contains("<img class=\"logo\" src=\"/t/dunkerque/logo?v="));
    assert!(!html.contains("<svg xmlns"), "never inline");
    assert!(!html.contains("/t/dunkerque/theme.css"), "no accent given");
    let res = app.get("/t/dunkerque/logo").await;
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "content-type"), "image/svg+xml");
    let csp = header(&res, "content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );

    // A tenant without a theme keeps the default look.
    let html = page_of(app.get("/t/nimes/droits").await).await;
    assert!(!html.contains("theme.css"), "{html}");
    assert!(!html.contains("class=\"logo\""), "{html}");
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/assets/guichet.css\">"));
    for path in ["/t/nimes/logo", "/t/nimes/theme.css", "/t/nowhere/logo"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let res = app.get("/assets/guichet.css").await;
    let css = res.text().await.unwrap();
    assert!(
        css.contains(&format!("--accent: {};", guichet::config::DEFAULT_ACCENT)),
        "the default accent is the one the code names"
    );
    // The console keeps the default look too.
    let res = app.get("/console/login").await;
    assert_eq!(res.status(), 200);
    let html = page_of(res).await;
    assert!(!html.contains("theme.css") && !html.contains("class=\"logo\""));
}

#[tokio::test]
async fn a_tenants_letters_take_its_accent_colour() {
    let logos = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let app = themed_app(logos.path(), Some(&smtp)).await;
    for tenant in ["sevres", "nimes"] {
        let res = app
            .client
            .post(app.url(&format!("/v1/tenants/{tenant}/requests")))
            .json(&json!({
                "kind": "access", "first_name": "Zoé", "last_name": "Lefèvre",
                "email": format!("zoe-{tenant}@example.org"), "details": "Mes données.",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
    common::deliver(&app).await;
    let letters = smtp.letters();
    let html_to = |to: &str| {
        letters
            .iter()
            .find(|(rcpt, ..)| rcpt == to)
            .map(|(.., html)| html.clone())
            .unwrap_or_else(|| panic!("a letter to {to}"))
    };
    let sevres = html_to("zoe-sevres@example.org");
    assert!(sevres.contains(&format!("solid {ACCENT}")), "{sevres}");
    let nimes = html_to("zoe-nimes@example.org");
    let default = format!("solid {}", guichet::config::DEFAULT_ACCENT);
    assert!(nimes.contains(&default), "{nimes}");
}

#[test]
fn a_theme_that_cannot_be_stops_the_start_naming_its_field() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "logo.png", PNG);
    write(dir.path(), "letter.pdf", b"%PDF-1.7\n%%EOF\n");
    write(dir.path(), "big.png", &[PNG, &[0u8; 2048][..]].concat());
    let cases = [
        (
            "accent_color = \"vert\"",
            "`tenants.sevres.theme.accent_color`",
            "is not a colour",
        ),
        (
            "accent_color = \"#ffcc00\"",
            "`tenants.sevres.theme.accent_color`",
            "contrast with white is 1.5",
        ),
        (
            "accent_color = \"#757575\"",
            "`tenants.sevres.theme.accent_color`",
            "4.5:1",
        ),
        (
            "logo = \"letter.pdf\"",
            "`tenants.sevres.theme.logo`",
            "is not an image",
        ),
        (
            "logo = \"missing.png\"",
            "`tenants.sevres.theme.logo`",
            "cannot be read",
        ),
        (
            "logo = \"big.png\"",
            "`tenants.sevres.theme.logo`",
            "limits.max_logo_bytes",
        ),
    ];
    for (setting, field, why) in cases {
        let site = format!("[limits]\nmax_logo_bytes = 1024\n[tenants.sevres.theme]\n{setting}\n");
        std::fs::write(dir.path().join("site.toml"), site).unwrap();
        let env = [("GUICHET__SERVER__BIND", "127.0.0.1:0")];
        let out = run(dir.path(), &env, &["--config", "site.toml", "serve"]);
        let line = one_line_error(&out);
        assert!(
            line.contains(field) && line.contains(why),
            "{setting}: {line}"
        );
    }
    assert!(!dir.path().join("data").exists(), "nothing written");

    // The same settings with a logo that is one start.
    std::fs::write(
        dir.path().join("site.toml"),
        "[tenants.sevres.theme]\nlogo = \"logo.png\"\naccent_color = \"#1a5c38\"\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &[],
        &["--config", "site.toml", "tenants", "list"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
