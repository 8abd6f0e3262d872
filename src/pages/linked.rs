//! A request in the console as one of several: how it arrived and for
//! whom, the other requests of its case (one submission, one request per
//! right: « Demandes liées ») and the same person's other requests, each
//! linked to its page.

use serde_json::{json, Value};

use super::render::{date, text, text_with};
use crate::rights::queue::RequestDetail;
use crate::rights::related::LinkedRequest;
use crate::rights::service::RightsService;
use crate::tenants::Locale;

/// What the request page shows of the request's arrival and of the
/// requests it is read with.
pub fn view(lang: Locale, rights: &RightsService, detail: &RequestDetail) -> Value {
    let tz = rights.settings.requests.tz();
    let linked = |l: &LinkedRequest| {
        json!({
            "id": l.id,
            "reference": l.reference,
            "kind_label": l.kind.label(lang),
            "status": l.status.as_str(),
            "status_label": text(lang, &format!("status_{}", l.status.as_str())),
            "received_at": date(l.received_at.and_utc(), lang, tz),
        })
    };
    let on_behalf_of = detail.on_behalf_of.as_ref().map(|o| {
        json!({
            "name": format!("{} {}", o.first_name, o.last_name),
            "relation": o.relation.label(lang),
        })
    });
    json!({
        "channel": detail.channel.as_str(),
        "channel_line": text_with(lang, "channel_line", &[("how", detail.channel.label(lang))]),
        "on_behalf_of": on_behalf_of,
        "case": detail.case.iter().map(linked).collect::<Vec<_>>(),
        "same_person": detail.same_person.iter().map(linked).collect::<Vec<_>>(),
        "same_person_url": format!("/console?same_person_as={}", detail.id),
    })
}
