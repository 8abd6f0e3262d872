//! Mail templates, compiled into the binary: for each message a subject, a
//! plain-text part and an HTML part (autoescaped), in French and English.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use super::MailError;
use crate::tenants::Locale;

/// Every message Guichet writes; each has a subject, a plain-text part and
/// an HTML part per locale, under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Template {
    /// To the DPO: a request arrived.
    DpoNewRequest,
    /// To the DPO: the identity document asked for arrived.
    DpoNewDocument,
    /// To the requester: the request was received.
    RequesterAck,
    IdentityRequested,
    Extension,
    Completed,
    Rejected,
    /// To the requester: a message from the DPO.
    DpoMessage,
    /// To the DPO: the daily list of requests due and overdue.
    Digest,
    /// To a referent: a DPO assigned it a request.
    ReferentAssigned,
    /// To a referent: an assignment's due date passed without its note.
    ReferentReminder,
    /// To a locked staff account's owner.
    UnlockLink,
    /// `guichet mail-test`.
    Test,
}

impl Template {
    pub const ALL: [Template; 13] = [
        Self::DpoNewRequest,
        Self::DpoNewDocument,
        Self::RequesterAck,
        Self::IdentityRequested,
        Self::Extension,
        Self::Completed,
        Self::Rejected,
        Self::DpoMessage,
        Self::Digest,
        Self::ReferentAssigned,
        Self::ReferentReminder,
        Self::UnlockLink,
        Self::Test,
    ];

    /// The name of its files, and of the message in the outbox.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DpoNewRequest => "dpo_new_request",
            Self::DpoNewDocument => "dpo_new_document",
            Self::RequesterAck => "requester_ack",
            Self::IdentityRequested => "identity_requested",
            Self::Extension => "extension",
            Self::Completed => "completed",
            Self::Rejected => "rejected",
            Self::DpoMessage => "dpo_message",
            Self::Digest => "digest",
            Self::ReferentAssigned => "referent_assigned",
            Self::ReferentReminder => "referent_reminder",
            Self::UnlockLink => "unlock_link",
            Self::Test => "test",
        }
    }

    /// Whether it is written to a requester (greeted by name or formally),
    /// rather than to staff or an operator.
    pub fn to_requester(self) -> bool {
        !matches!(
            self,
            Self::DpoNewRequest
                | Self::DpoNewDocument
                | Self::Digest
                | Self::ReferentAssigned
                | Self::ReferentReminder
                | Self::UnlockLink
                | Self::Test
        )
    }
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    "dpo_new_request", "dpo_new_document", "requester_ack", "identity_requested", "extension",
    "completed", "rejected", "dpo_message", "digest", "referent_assigned", "referent_reminder",
    "unlock_link", "test"
);

const FILES_EN: &[(&str, &str)] = embed!(
    "en";
    "dpo_new_request", "dpo_new_document", "requester_ack", "identity_requested", "extension",
    "completed", "rejected", "dpo_message", "digest", "referent_assigned", "referent_reminder",
    "unlock_link", "test"
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
        // Links and buttons, unless the tenant's accent colour is given.
        env.add_global("accent", crate::config::DEFAULT_ACCENT);
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
        template: Template,
        locale: Locale,
        ctx: &impl Serialize,
    ) -> Result<Rendered, MailError> {
        let get = |part: &str| {
            let file = format!("{}/{template}.{part}", locale.as_str());
            self.env
                .get_template(&file)
                .and_then(|t| t.render(ctx))
                .map_err(|e| MailError::Template(format!("mail template {file}: {e}")))
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
            "sections": [{"tenant_name": "Ville de Sèvres", "due_soon": [],
                "overdue": [{"reference": "DR-1", "kind_label": "effacement", "due_at": "1 mars", "days_late": 1}]}],
            "overdue_count": 1, "due_soon_count": 0, "window_days": 7,
            "minutes": 60, "attempts": 3, "lock_minutes": 15,
            "attachments": 2, "answered": true,
            "uploaded_at": "12 mars 2026", "documents": 2,
        })
    }

    #[test]
    fn the_letters_of_an_answer_carry_the_link_never_its_text() {
        let t = Templates::new();
        let mut ctx = sample();
        ctx["body"] = "TEXTE-DE-LA-REPONSE".into();
        ctx["note"] = "TEXTE-DE-LA-REPONSE".into();
        ctx["reason"] = "TEXTE-DE-LA-REPONSE".into();
        for locale in [Locale::Fr, Locale::En] {
            for name in [
                Template::DpoMessage,
                Template::Completed,
                Template::Rejected,
            ] {
                for files in [0, 1, 2] {
                    ctx["attachments"] = files.into();
                    let r = t.render(name, locale, &ctx).unwrap();
                    for part in [&r.subject, &r.text, &r.html] {
                        assert!(!part.contains("TEXTE-DE-LA-REPONSE"), "{name}: {part}");
                    }
                    assert!(r.text.contains("https://g.example/t"), "{name}");
                    // The HTML escapes the link's slashes.
                    assert!(
                        r.html
                            .contains("href=\"https:&#x2f;&#x2f;g.example&#x2f;t\""),
                        "{name}"
                    );
                    let told = match (locale, files) {
                        (_, 0) => None,
                        (Locale::Fr, 1) => Some("un fichier joint"),
                        (Locale::Fr, _) => Some("2 fichiers joints"),
                        (Locale::En, 1) => Some("one attached file"),
                        (Locale::En, _) => Some("2 attached files"),
                    };
                    if let Some(told) = told {
                        assert!(r.text.contains(told), "{name} {files}: {}", r.text);
                        assert!(r.html.contains(told), "{name} {files}");
                    } else {
                        assert!(
                            !r.text.contains("fichier") && !r.text.contains("file"),
                            "{name}: {}",
                            r.text
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn buttons_take_the_tenants_accent_colour() {
        for (name, source) in FILES_FR.iter().chain(FILES_EN) {
            for colour in source.split("background-color:").skip(1) {
                let colour = colour.split(';').next().unwrap_or_default();
                // Greys and white are the letter's own; colour is the tenant's.
                let grey = colour.len() == 7
                    && colour[1..3] == colour[3..5]
                    && colour[3..5] == colour[5..7];
                assert!(
                    colour == "{{ accent }}" || grey,
                    "{name}: a background's colour is the tenant's accent, not {colour}"
                );
            }
        }
    }

    #[test]
    fn every_template_renders_in_both_locales_with_escaping() {
        let t = Templates::new();
        for locale in [Locale::Fr, Locale::En] {
            for name in Template::ALL {
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
        let r = t
            .render(Template::RequesterAck, Locale::Fr, &sample())
            .unwrap();
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
            let to_requester = Template::ALL.into_iter().filter(|t| t.to_requester());
            for name in to_requester {
                let r = t.render(name, locale, &ctx).unwrap();
                assert!(r.text.starts_with(formal), "{name}: {}", r.text);
                assert!(r.html.contains(&format!("<p>{formal}</p>")), "{name}");
            }
        }
        let r = t
            .render(Template::RequesterAck, Locale::Fr, &sample())
            .unwrap();
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
