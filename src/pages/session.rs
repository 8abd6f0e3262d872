//! Console sessions: the cookie carries the same HS256 token the API issues
//! at sign-in, so the staff rules of the API apply to it unchanged (expiry,
//! enabled account, generation, not signed out, role and tenant read from
//! the account). Every form of
//! the console carries a CSRF token derived from the session: an HMAC of
//! the token's `jti` under the JWT key, checked on every POST. The sign-in
//! form, before any session, carries an HMAC of a random nonce kept in a
//! cookie of its own (double submit).
//!
//! Cookies: `HttpOnly`, `SameSite=Strict`, `Path=/console`, and `Secure`
//! when the public address is https.

use std::collections::HashMap;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::render;
use super::PageError;
use crate::staff::Staff;
use crate::staff::StaffService;
use crate::tenants::Locale;

pub const SESSION_COOKIE: &str = "guichet_console";
pub const LOGIN_COOKIE: &str = "guichet_login";
const COOKIE_PATH: &str = "/console";
/// How long a sign-in form may stay open before it is sent.
const LOGIN_FORM_SECS: i64 = 3600;

fn mac(service: &StaffService, purpose: &str, value: &str) -> String {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(service.secrets.jwt.bytes())
        .expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// Compares in constant time.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn secure(service: &StaffService) -> bool {
    service.server.public_url.starts_with("https://")
}

fn cookie(
    service: &StaffService,
    name: &'static str,
    value: String,
    max_age_secs: i64,
) -> Cookie<'static> {
    Cookie::build(name, value)
        .path(COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(service))
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish()
}

/// The session cookie for a token issued at sign-in.
pub fn session_cookie(
    service: &StaffService,
    token: String,
    lifetime_secs: u64,
) -> Cookie<'static> {
    cookie(
        service,
        SESSION_COOKIE,
        token,
        i64::try_from(lifetime_secs).unwrap_or(3600),
    )
}

/// A cookie that removes `name`.
pub fn removal(service: &StaffService, name: &'static str) -> Cookie<'static> {
    cookie(service, name, String::new(), 0)
}

/// A fresh nonce for the sign-in form, its cookie and the form's token.
pub fn login_nonce(service: &StaffService) -> (Cookie<'static>, String) {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let nonce = URL_SAFE_NO_PAD.encode(bytes);
    let token = mac(service, "login", &nonce);
    (cookie(service, LOGIN_COOKIE, nonce, LOGIN_FORM_SECS), token)
}

/// Whether the sign-in form's token matches its cookie.
pub fn login_token_ok(service: &StaffService, req: &HttpRequest, token: &str) -> bool {
    req.cookie(LOGIN_COOKIE)
        .is_some_and(|c| !c.value().is_empty() && same(&mac(service, "login", c.value()), token))
}

/// A signed-in staff member, from the session cookie.
pub struct Session {
    pub staff: Staff,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    pub lang: Locale,
    /// The session token's id and expiry (seconds since 1970), for signing
    /// out.
    pub token_id: String,
    pub token_expires_at: i64,
}

impl Session {
    /// Refuses a form that does not carry this session's CSRF token.
    pub fn check(&self, form: &HashMap<String, String>) -> Result<(), PageError> {
        match form.get("csrf") {
            Some(token) if same(token, &self.csrf) => Ok(()),
            _ => Err(PageError::csrf(self.lang)),
        }
    }
}

/// Where to go back after signing in: a plain path of the console only
/// (`/console`, `/console/…` or `/console?…`), in visible ASCII. Anything
/// else — another site, `//` or `\\` a browser could read as one, a control
/// character or a space a browser would drop or a header refuse — goes to
/// `/console`.
pub fn local_next(next: Option<&str>) -> String {
    let plain = |n: &str| {
        let rest = n.strip_prefix("/console").unwrap_or("-");
        (rest.is_empty() || rest.starts_with(['/', '?']))
            && n.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
            && !n.contains("//")
    };
    match next {
        Some(n) if plain(n) => n.to_owned(),
        _ => "/console".to_owned(),
    }
}

impl FromRequest for Session {
    type Error = PageError;
    type Future = LocalBoxFuture<'static, Result<Self, PageError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let service = req.app_data::<web::Data<StaffService>>().cloned();
        let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        let lang = render::lang(req, Locale::Fr);
        let here = if req.method() == actix_web::http::Method::GET {
            req.uri()
                .path_and_query()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default()
        } else {
            String::new()
        };
        Box::pin(async move {
            let service = service.ok_or_else(|| PageError::internal(lang))?;
            let to_login = || {
                let next = local_next(Some(&here));
                PageError::redirect(format!(
                    "/console/login?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                ))
            };
            let token = token.filter(|t| !t.is_empty()).ok_or_else(to_login)?;
            let (staff, claims) = match crate::staff::from_token(&service, &token).await {
                Ok(found) => found,
                Err(e) if e.status.is_server_error() => return Err(PageError::api(lang, e)),
                Err(_) => return Err(to_login()),
            };
            Ok(Session {
                csrf: mac(&service, "csrf", &claims.jti),
                staff,
                lang,
                token_id: claims.jti,
                token_expires_at: claims.exp,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_addresses_are_followed_after_sign_in() {
        assert_eq!(
            local_next(Some("/console/requests/abc")),
            "/console/requests/abc"
        );
        assert_eq!(local_next(Some("https://evil.example/console")), "/console");
        assert_eq!(local_next(Some("/console//evil.example")), "/console");
        assert_eq!(local_next(Some("/t/sevres/droits")), "/console");
        assert_eq!(local_next(None), "/console");
        assert_eq!(
            local_next(Some("/console/stats?from=2026-01-01")),
            "/console/stats?from=2026-01-01"
        );
        assert_eq!(local_next(Some("/console")), "/console");
        for hostile in [
            "/console\r\nSet-Cookie: a=b",
            "/console/\t/evil.example",
            "/console\u{0}",
            "/console/\u{202e}txt",
            "/console /x",
            "/console\\evil",
            "/consolex",
            "/console.evil.example",
        ] {
            assert_eq!(local_next(Some(hostile)), "/console", "{hostile:?}");
        }
    }

    #[test]
    fn comparison_needs_equal_strings() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
