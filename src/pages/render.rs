//! The pages' templates (compiled in, autoescaped) and their words: one set
//! of templates, and one table of texts per language.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use minijinja::{AutoEscape, Environment};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::tenants::Locale;

macro_rules! embed {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/pages/", $name)))),*]
    };
}

const TEMPLATES: &[(&str, &str)] = embed!(
    "base.html",
    "macros.html",
    "error.html",
    "citizen_form.html",
    "citizen_sent.html",
    "citizen_leaving.html",
    "console_signed_in.html",
    "citizen_accessibility.html",
    "citizen_track.html",
    "citizen_answers.html",
    "tenant_footer.html",
    "console_base.html",
    "console_login.html",
    "console_queue.html",
    "console_request.html",
    "console_new_request.html",
    "console_letters.html",
    "console_referents.html",
    "console_letter.html",
    "console_answers.html",
    "console_stats.html",
    "console_reports.html",
    "console_audit.html",
    "console_retention.html",
);

const TEXTS_FR: &str = include_str!("../../templates/pages/texts.fr.json");
const TEXTS_EN: &str = include_str!("../../templates/pages/texts.en.json");

/// The name of the cookie that keeps the reader's language.
pub const LANG_COOKIE: &str = "guichet_lang";

struct Pages {
    env: Environment<'static>,
    fr: Map<String, Value>,
    en: Map<String, Value>,
}

fn texts(source: &str, name: &str) -> Map<String, Value> {
    serde_json::from_str(source).unwrap_or_else(|e| panic!("{name} is not a JSON object: {e}"))
}

static PAGES: LazyLock<Pages> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("page template {name} does not compile: {e}"));
    }
    Pages {
        env,
        fr: texts(TEXTS_FR, "texts.fr.json"),
        en: texts(TEXTS_EN, "texts.en.json"),
    }
});

fn table(lang: Locale) -> &'static Map<String, Value> {
    match lang {
        Locale::Fr => &PAGES.fr,
        Locale::En => &PAGES.en,
    }
}

/// One text in the reader's language (its key when it is missing, which a
/// test rules out).
pub fn text(lang: Locale, key: &str) -> String {
    table(lang)
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or(key)
        .to_owned()
}

/// A text, or `fallback` when there is none for `key` (a kind of event
/// this version does not name).
pub fn text_or(lang: Locale, key: &str, fallback: &str) -> String {
    table(lang)
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or(fallback)
        .to_owned()
}

/// A text with `{name}` placeholders filled in.
pub fn text_with(lang: Locale, key: &str, args: &[(&str, &str)]) -> String {
    let mut out = text(lang, key);
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

fn parse_lang(s: &str) -> Option<Locale> {
    match s {
        "fr" => Some(Locale::Fr),
        "en" => Some(Locale::En),
        _ => None,
    }
}

/// `?lang=` when given, else the reader's cookie.
fn asked_lang(req: &HttpRequest) -> Option<Locale> {
    url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "lang")
        .and_then(|(_, v)| parse_lang(&v))
}

/// The reader's language: `?lang=`, then the cookie, then `default` (the
/// tenant's language on a citizen's page, French in the console).
pub fn lang(req: &HttpRequest, default: Locale) -> Locale {
    asked_lang(req)
        .or_else(|| req.cookie(LANG_COOKIE).and_then(|c| parse_lang(c.value())))
        .unwrap_or(default)
}

/// A date as people write it, in the service's time zone.
pub fn date(at: DateTime<Utc>, lang: Locale, tz: chrono_tz::Tz) -> String {
    crate::rights::notify::human_date(at, lang, tz)
}

/// A date and time: "2 mars 2026 à 10:30", "2 March 2026, 10:30".
pub fn date_time(at: DateTime<Utc>, lang: Locale, tz: chrono_tz::Tz) -> String {
    let time = at.with_timezone(&tz).format("%H:%M");
    match lang {
        Locale::Fr => format!("{} à {time}", date(at, lang, tz)),
        Locale::En => format!("{}, {time}", date(at, lang, tz)),
    }
}

/// Renders `name` with `ctx` (a JSON object) plus `lang`, `t` (the texts)
/// and `here` (the address of the page, for the language links, unless
/// `ctx` names another one: a form shown again after a POST links to the
/// page of the form).
pub fn render(name: &str, lang: Locale, here: &str, ctx: Value) -> Result<String, ApiError> {
    let mut ctx = match ctx {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    ctx.insert("lang".into(), Value::from(lang.as_str()));
    ctx.insert("t".into(), Value::Object(table(lang).clone()));
    ctx.entry("here").or_insert_with(|| Value::from(here));
    PAGES
        .env
        .get_template(name)
        .and_then(|t| t.render(&ctx))
        .map_err(|e| ApiError::internal(anyhow::anyhow!("page template {name}: {e:#}")))
}

/// An HTML answer; `?lang=` is remembered in a cookie (a preference, kept
/// a year, needs no consent).
pub fn respond(req: &HttpRequest, status: StatusCode, html: String) -> HttpResponse {
    let mut res = HttpResponse::build(status);
    res.insert_header((
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    ));
    if let Some(lang) = asked_lang(req) {
        res.cookie(
            actix_web::cookie::Cookie::build(LANG_COOKIE, lang.as_str())
                .path("/")
                .http_only(true)
                .same_site(actix_web::cookie::SameSite::Lax)
                .max_age(actix_web::cookie::time::Duration::days(365))
                .finish(),
        );
    }
    res.body(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_languages_have_every_text() {
        let fr: Vec<&String> = PAGES.fr.keys().collect();
        let en: Vec<&String> = PAGES.en.keys().collect();
        assert_eq!(fr, en, "texts.fr.json and texts.en.json have the same keys");
        for (k, v) in PAGES.fr.iter().chain(PAGES.en.iter()) {
            assert!(v.as_str().is_some_and(|s| !s.is_empty()), "{k} is a text");
        }
    }

    #[test]
    fn no_text_is_named_twice() {
        for (name, source) in [("fr", TEXTS_FR), ("en", TEXTS_EN)] {
            let mut seen = std::collections::HashSet::new();
            for line in source.lines() {
                if let Some(key) = line
                    .trim()
                    .strip_prefix('"')
                    .and_then(|l| l.split('"').next())
                {
                    assert!(
                        seen.insert(key.to_owned()),
                        "{key} twice in texts.{name}.json"
                    );
                }
            }
        }
    }

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(PAGES.env.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn dates_for_people() {
        let at: DateTime<Utc> = "2026-03-02T09:30:00Z".parse().unwrap();
        let tz = chrono_tz::Europe::Paris;
        assert_eq!(date_time(at, Locale::Fr, tz), "2 mars 2026 à 10:30");
        assert_eq!(date_time(at, Locale::En, tz), "2 March 2026, 10:30");
        assert_eq!(text_with(Locale::Fr, "days_left", &[("n", "3")]), "3 jours");
    }
}
