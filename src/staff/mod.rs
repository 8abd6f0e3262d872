//! Staff: accounts with argon2id passwords, sign-in locks, JWT sessions
//! that end at sign-out or a password change, roles, the journal of
//! connections, and the admin API for accounts.

pub mod accounts;
pub mod admin;
mod auth;
pub mod journal;
pub mod lockout;
pub mod login;
pub mod mail;
pub mod password;
pub mod revoked;
pub mod token;

use actix_web::web;

pub use accounts::Role;
pub use auth::{from_token, Staff};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/v1/auth/login").post(login::login))
        .service(web::resource("/v1/dpo/audit").get(journal::list))
        .service(
            web::resource("/v1/admin/users")
                .get(admin::list_users)
                .post(admin::create_user),
        )
        .service(web::resource("/v1/admin/users/{id}/disable").post(admin::disable_user))
        .service(web::resource("/v1/admin/mail").get(mail::list));
}
