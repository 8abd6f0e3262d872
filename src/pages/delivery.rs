//! The DPO's answers on the citizen's tracking page: each answer's text
//! and its files, downloaded through the page by the API's own function
//! (`downloads::download`, which puts each download on the request's
//! timeline, where the DPO sees it). The token stays in the address of
//! these pages only: the log names the route, never the path, and every
//! page is served with `Referrer-Policy: no-referrer`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::citizen::{tenant_of, tracked};
use super::errors::OrPage;
use super::render::{self, date_time, text, text_with};
use super::PageError;
use crate::rights::downloads;
use crate::rights::opening::Opened;
use crate::rights::service::RightsService;
use crate::rights::track::Tracking;
use crate::tenants::Locale;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/suivi/{token}/pieces-jointes/{attachment_id}").get(attachment));
}

/// A size for people: in KiB, or MiB from one.
fn size(lang: Locale, bytes: i64) -> String {
    const MIB: i64 = 1024 * 1024;
    if bytes >= MIB {
        let tenths = (bytes * 10 + MIB / 2) / MIB;
        let n = match lang {
            Locale::Fr => format!("{},{}", tenths / 10, tenths % 10),
            Locale::En => format!("{}.{}", tenths / 10, tenths % 10),
        };
        text_with(lang, "size_mib", &[("n", &n)])
    } else {
        text_with(
            lang,
            "size_kib",
            &[("n", &((bytes + 1023) / 1024).to_string())],
        )
    }
}

/// The answers of a tracked request, oldest first, each file with the
/// address of its download under the tenant's tracking page.
pub fn answers(
    rights: &RightsService,
    lang: Locale,
    tracking: &Tracking,
    tracking_url: &str,
) -> Vec<Value> {
    let tz = rights.settings.requests.tz();
    tracking
        .messages
        .iter()
        .map(|m| {
            let files: Vec<Value> = m
                .attachments
                .iter()
                .map(|a| {
                    json!({
                        "filename": a.filename,
                        "size": size(lang, a.size),
                        "url": format!("{tracking_url}/pieces-jointes/{}", a.id),
                    })
                })
                .collect();
            json!({
                "at": date_time(m.at, lang, tz),
                "datetime": m.at.to_rfc3339(),
                "kind_label": text(lang, &format!("answer_kind_{}", m.kind.as_str())),
                "body": m.body,
                "attachments": files,
            })
        })
        .collect()
}

/// `GET /t/{tenant}/suivi/{token}/pieces-jointes/{attachment_id}`: a file
/// of an answer, for the requester of a request of this tenant; 404 for
/// another's, 410 once destroyed with the requester's data.
async fn attachment(
    req: HttpRequest,
    rights: web::Data<RightsService>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, PageError> {
    let (slug, token, attachment_id) = path.into_inner();
    let tenant = tenant_of(&rights, &slug, render::lang(&req, Locale::Fr))?;
    let lang = render::lang(&req, tenant.config.locale);
    tracked(&rights, &tenant, &token, lang).await?;
    downloads::download(&rights, &token, attachment_id)
        .await
        .map(Opened::into_response)
        .page(lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(size(Locale::Fr, 10), "1 Kio");
        assert_eq!(size(Locale::Fr, 2048), "2 Kio");
        assert_eq!(size(Locale::Fr, 3 * 1024 * 1024 / 2), "1,5 Mio");
        assert_eq!(size(Locale::En, 3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
