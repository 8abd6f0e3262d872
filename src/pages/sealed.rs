//! What a browser carries across its round trip to an identity provider
//! (the flow's state, nonce and PKCE verifier; then what the provider
//! answered): one cookie, sealed (`oidc::seal`) so that it can be neither
//! read nor changed, its expiry inside. `SameSite=Lax`: the provider's
//! redirect back is a navigation from another site.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::oidc::providers::Providers;
use crate::oidc::seal;

/// The instance's identity providers, when the application holds them.
pub fn providers_of(req: &HttpRequest) -> Option<&Providers> {
    req.app_data::<web::Data<Providers>>().map(|p| p.get_ref())
}

/// One such cookie: its name, what it is sealed for, the pages it goes to.
pub struct Carrier {
    pub name: &'static str,
    pub purpose: &'static str,
    pub path: String,
}

impl Carrier {
    /// What the browser brought, if it is sealed for this purpose and has
    /// not expired at `now` (seconds since 1970).
    pub fn open<T: DeserializeOwned>(
        &self,
        req: &HttpRequest,
        providers: &Providers,
        now: i64,
    ) -> Option<T> {
        let value = req.cookie(self.name)?;
        seal::open(&providers.key, self.purpose, value.value(), now)
    }

    /// The cookie carrying `what` for `secs` from `now`.
    pub fn carry<T: Serialize>(
        &self,
        providers: &Providers,
        what: &T,
        now: i64,
        secs: i64,
    ) -> Cookie<'static> {
        let value = seal::seal(&providers.key, self.purpose, what, now + secs);
        self.build(providers, value, secs)
    }

    /// The cookie that removes it.
    pub fn removal(&self, providers: &Providers) -> Cookie<'static> {
        self.build(providers, String::new(), 0)
    }

    fn build(&self, providers: &Providers, value: String, secs: i64) -> Cookie<'static> {
        Cookie::build(self.name, value)
            .path(self.path.clone())
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(providers.secure)
            .max_age(CookieDuration::seconds(secs))
            .finish()
    }
}

/// `res` with `cookie` set too.
pub fn with_cookie(mut res: HttpResponse, cookie: &Cookie<'_>) -> HttpResponse {
    if let Ok(value) = cookie.encoded().to_string().parse() {
        res.headers_mut()
            .append(actix_web::http::header::SET_COOKIE, value);
    }
    res
}
