//! Where messages go: an SMTP relay, or `.eml` files (the embedded default).

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, Message, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{SmtpTransport, Transport as _};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, MailTransportKind, SmtpTls};

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later: connection refused, timeout, 4xx.
    #[error("transient: {0}")]
    Transient(String),
    /// Will never work as it is: 5xx, invalid address.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl SendError {
    /// Why, in a word an operator can act on and that carries nothing of
    /// the message or its recipient: `refused` (for good), `tls`,
    /// `unreachable`, or `deferred` (the server asked to try later).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Permanent(_) => "refused",
            Self::Transient(why) => transient_reason(why),
        }
    }
}

/// The word for a failure worth trying again (`SendError::reason`).
pub fn transient_reason(why: &str) -> &'static str {
    let why = why.to_ascii_lowercase();
    if ["tls", "certificate", "handshake", "ssl"]
        .iter()
        .any(|w| why.contains(w))
    {
        "tls"
    } else if [
        "connection",
        "connect",
        "timed out",
        "timeout",
        "resolve",
        "dns",
        "network",
        "unreachable",
        "broken pipe",
        "reset",
    ]
    .iter()
    .any(|w| why.contains(w))
    {
        "unreachable"
    } else {
        "deferred"
    }
}

pub enum Transport {
    Smtp(Box<SmtpTransport>),
    File(PathBuf),
}

impl Transport {
    pub fn from_settings(settings: &MailSettings, mail_dir: PathBuf) -> Result<Self, String> {
        match settings.transport {
            MailTransportKind::File => Ok(Self::File(mail_dir)),
            MailTransportKind::Smtp => {
                let s = &settings.smtp;
                let tls = |host: &str| {
                    TlsParameters::new(host.to_owned()).map_err(|e| format!("mail.smtp.tls: {e}"))
                };
                let tls = match s.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls => Tls::Required(tls(&s.host)?),
                    SmtpTls::Tls => Tls::Wrapper(tls(&s.host)?),
                };
                let mut builder = SmtpTransport::builder_dangerous(&s.host)
                    .port(s.port)
                    .tls(tls)
                    .timeout(Some(Duration::from_secs(s.timeout_secs)));
                if let (Some(user), Some(password)) = (&s.username, &s.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose_secret().to_owned(),
                    ));
                }
                Ok(Self::Smtp(Box::new(builder.build())))
            }
        }
    }

    pub fn send(&self, message: &Message, file_name: &str) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
            Self::File(dir) => write_eml(dir, file_name, &message.formatted())
                .map_err(|e| SendError::Transient(format!("{}: {e}", dir.display()))),
        }
    }
}

fn write_eml(dir: &std::path::Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.eml"));
    let tmp = dir.join(format!(".{name}.eml.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

/// Who a message comes from: `mail.from`'s address, under the tenant's
/// name when it is a tenant's letter, with the tenant's Reply-To.
pub struct Sender<'a> {
    pub from: &'a Mailbox,
    pub name: Option<&'a str>,
    pub reply_to: Option<&'a str>,
}

/// Builds the MIME message: multipart/alternative, plain text then HTML,
/// under the message's stable Message-ID.
pub fn build(
    sender: &Sender<'_>,
    to: &str,
    message_id: &str,
    subject: &str,
    text: &str,
    html: &str,
) -> Result<Message, SendError> {
    let to: Mailbox = to
        .parse()
        .map_err(|e| SendError::Permanent(format!("invalid recipient: {e}")))?;
    let from = match sender.name {
        Some(name) => Mailbox::new(
            Some(super::templates::one_line(name)),
            sender.from.email.clone(),
        ),
        None => sender.from.clone(),
    };
    let mut builder = Message::builder().from(from);
    // A Reply-To that is not a mailbox (checked at start) is left out.
    if let Some(reply_to) = sender.reply_to.and_then(|r| r.parse::<Mailbox>().ok()) {
        builder = builder.reply_to(reply_to);
    }
    builder
        .to(to)
        .message_id(Some(message_id.to_owned()))
        .subject(super::templates::one_line(subject))
        .multipart(MultiPart::alternative_plain_html(
            text.to_owned(),
            html.to_owned(),
        ))
        .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[test]
    fn a_failure_is_told_in_a_word_that_carries_no_address() {
        let said = |e: SendError| e.reason();
        assert_eq!(
            said(SendError::Permanent(
                "550 5.1.1 <zoe@example.org> unknown".into()
            )),
            "refused"
        );
        assert_eq!(
            said(SendError::Transient(
                "Connection refused (os error 111)".into()
            )),
            "unreachable"
        );
        assert_eq!(
            said(SendError::Transient(
                "tls handshake: certificate expired".into()
            )),
            "tls"
        );
        assert_eq!(
            said(SendError::Transient(
                "451 4.7.1 greylisted, try later".into()
            )),
            "deferred"
        );
    }
}
