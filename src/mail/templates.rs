//! Mail templates, compiled into the binary: for each message a subject, a
//! plain-text part and an HTML part (autoescaped), in French and English.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::error::ApiError;
use crate::tenants::Locale;

/// Every template name, and the files each one has per locale.
pub const NAMES: [&str; 10] = [
    "dpo_new_request",
    "requester_ack",
    "identity_requested",
    "extension",
    "completed",
    "rejected",
    "dpo_message",
    "digest",
    "unlock_link",
    "test",
];

macro_rules! embed {
    ($locale:literal; $($name:literal),*) => {
        &[
            (concat!($locale, "/base.html"), include_str!(concat!("../../templates/mail/", $locale, "/base.html"))),
            $(
                (concat!($locale, "/", $name, ".subject"), include_str!(concat!("../../templates/mail/", $locale, "/", $name, ".subject"))),
                (concat!($locale, "/", $name, ".txt"), include_str!(concat!("../../templates/mail/", $locale, "/", $name, ".txt"))),
                (concat!($locale, "/", $name, ".html"), include_str!(concat!("../../templates/mail/", $locale, "/", $name, ".html"))),
            )*
        ]
    };
}

const FILES_FR: &[(&str, &str)] = embed!(
    "fr";
    "dpo_new_request", "requester_ack", "identity_requested", "extension",
    "completed", "rejected", "dpo_message", "digest", "unlock_link", "test"
);

const FILES_EN: &[(&str, &str)] = embed!(
    "en";
    "dpo_new_request", "requester_ack", "identity_requested", "extension",
    "completed", "rejected", "dpo_message", "digest", "unlock_link", "test"
);

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        env.set_keep_trailing_newline(true);
        // `{% extends "base.html" %}` means the base of the same locale.
        env.set_path_join_callback(|name, parent| match parent.rsplit_once('/') {
            Some((dir, _)) if !name.contains('/') => format!("{dir}/{name}").into(),
            _ => name.into(),
        });
        for (name, source) in FILES_FR.iter().chain(FILES_EN) {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("mail template {name} does not compile: {e}"));
        }
        Self { env }
    }

    pub fn render(
        &self,
        name: &str,
        locale: Locale,
        ctx: &impl Serialize,
    ) -> Result<Rendered, ApiError> {
        let get = |part: &str| {
            let file = format!("{}/{name}.{part}", locale.as_str());
            self.env
                .get_template(&file)
                .and_then(|t| t.render(ctx))
                .map_err(|e| ApiError::internal(anyhow::anyhow!("mail template {file}: {e}")))
        };
        Ok(Rendered {
            subject: one_line(&get("subject")?),
            text: get("txt")?,
            html: get("html")?,
        })
    }
}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

/// A header value on one line: control characters (CR, LF…) become
/// spaces, so that nothing can be smuggled into the headers.
pub fn one_line(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> serde_json::Value {
        serde_json::json!({
            "tenant_name": "Ville de Sèvres", "dpo_email": "dpo@ville-sevres.fr",
            "postal_address": "54 Grande Rue, 92311 Sèvres", "reference": "DR-7K3P",
            "kind_label": "droit d'accès", "received_at": "2 mars 2026", "due_at": "2 avril 2026",
            "link": "https://g.example/console", "tracking_link": "https://g.example/t",
            "first_name": "Zoé <script>alert(1)</script>", "note": "", "id_retention": "1 an",
            "reason": "Demande complexe", "cnil_url": "https://www.cnil.fr/fr/plaintes",
            "body": "Bonjour,\nligne 2", "date": "2 mars 2026", "console_link": "https://g.example/c",
            "overdue": [{"reference": "DR-1", "kind_label": "effacement", "due_at": "1 mars", "days_late": 1}],
            "due_soon": [], "sent_at": "2 mars 2026", "has_id_document": true,
            "minutes": 60, "attempts": 3, "lock_minutes": 15,
        })
    }

    #[test]
    fn every_template_renders_in_both_locales_with_escaping() {
        let t = Templates::new();
        for locale in [Locale::Fr, Locale::En] {
            for name in NAMES {
                let r = t.render(name, locale, &sample()).unwrap();
                assert!(!r.subject.is_empty(), "{name} subject");
                assert!(!r.subject.contains('\n'));
                assert!(!r.text.trim().is_empty(), "{name} text");
                assert!(
                    !r.html.contains("<script>alert"),
                    "{name} html escapes values"
                );
            }
        }
        let r = t.render("requester_ack", Locale::Fr, &sample()).unwrap();
        assert!(r.text.contains("DR-7K3P"));
        assert!(r.html.contains("&lt;script&gt;"));
    }

    #[test]
    fn letters_greet_by_first_name_only_when_given_one() {
        let t = Templates::new();
        let mut ctx = sample();
        ctx["first_name"] = serde_json::Value::Null;
        for (locale, formal) in [
            (Locale::Fr, "Madame, Monsieur,"),
            (Locale::En, "Dear Sir or Madam,"),
        ] {
            let to_requester = NAMES
                .iter()
                .filter(|n| !matches!(**n, "dpo_new_request" | "digest" | "unlock_link" | "test"));
            for name in to_requester {
                let r = t.render(name, locale, &ctx).unwrap();
                assert!(r.text.starts_with(formal), "{name}: {}", r.text);
                assert!(r.html.contains(&format!("<p>{formal}</p>")), "{name}");
            }
        }
        let r = t.render("requester_ack", Locale::Fr, &sample()).unwrap();
        assert!(r.text.starts_with("Bonjour Zoé"), "{}", r.text);
    }

    #[test]
    fn header_values_stay_on_one_line() {
        assert_eq!(
            one_line("Objet\r\nBcc: victim@example.org"),
            "Objet Bcc: victim@example.org"
        );
    }
}
