//! What this instance is configured with, written into the document: its
//! limits (the annotations carry the embedded defaults; an instance
//! configured otherwise describes what it really accepts) and the consent
//! purposes of its tenants.

use serde_json::{json, Value};

use crate::config::Settings;
use crate::http::DEFAULT_PAGE_SIZE;

/// Writes `settings`' limits over the annotated ones, and names the
/// purposes a consent may choose among.
pub fn apply(doc: &mut Value, settings: &Settings) {
    let mut purposes: Vec<&str> = settings
        .tenants
        .values()
        .flat_map(|t| t.consent.purposes.iter().map(|p| p.id.as_str()))
        .collect();
    purposes.sort_unstable();
    purposes.dedup();
    if let Some(names) =
        doc.pointer_mut("/components/schemas/ConsentRequest/properties/choices/propertyNames")
    {
        names["enum"] = json!(purposes);
        names["description"] = json!(
            "A purpose of the tenant's policy (each tenant has its own: see its consent policy)."
        );
    }
    let limits = &settings.limits;
    let per_page = json!(limits.max_page_size);
    let per_page_default = json!(DEFAULT_PAGE_SIZE.min(limits.max_page_size));
    let page = json!(limits.max_page);
    for op in operations(doc) {
        let params = op.get_mut("parameters").and_then(Value::as_array_mut);
        for param in params.into_iter().flatten() {
            if param["in"] != "query" {
                continue;
            }
            let name = param["name"].as_str().unwrap_or("").to_owned();
            let schema = &mut param["schema"];
            match name.as_str() {
                "per_page" => {
                    schema["maximum"] = per_page.clone();
                    schema["default"] = per_page_default.clone();
                }
                "page" => schema["maximum"] = page.clone(),
                _ => {}
            }
        }
    }
    for (pointer, value) in schema_limits(settings) {
        // Every pointer leads to a value the annotations wrote (tested).
        if let Some(slot) = doc.pointer_mut(&format!("/components/schemas{pointer}")) {
            *slot = value;
        }
    }
}

/// Where the components' schemas carry a configured limit.
fn schema_limits(settings: &Settings) -> Vec<(&'static str, Value)> {
    let consent = &settings.consent;
    let requests = &settings.requests;
    vec![
        (
            "/ConsentRequest/properties/tc_string/maxLength",
            json!(consent.tc_string_max),
        ),
        (
            "/ConsentRequest/properties/page_url/maxLength",
            json!(consent.page_url_max),
        ),
        (
            "/History/properties/items/maxItems",
            json!(consent.history_max),
        ),
        (
            "/NewStaff/properties/password/minLength",
            json!(settings.auth.min_password_length),
        ),
        (
            "/SubmissionJson/properties/details/maxLength",
            json!(requests.details_max_chars),
        ),
        (
            "/SubmissionJson/properties/grounds/maxLength",
            json!(requests.details_max_chars),
        ),
        (
            "/SubmissionForm/properties/details/maxLength",
            json!(requests.details_max_chars),
        ),
        (
            "/SubmissionForm/properties/grounds/maxLength",
            json!(requests.details_max_chars),
        ),
        (
            "/SubmissionJson/properties/subject_ids/maxItems",
            json!(requests.max_subject_ids),
        ),
        (
            "/SubmissionForm/properties/subject_ids/maxItems",
            json!(requests.max_subject_ids),
        ),
        (
            "/SubmissionForm/properties/id_document/maxItems",
            json!(requests.max_documents),
        ),
        (
            "/DocumentsForm/properties/id_document/maxItems",
            json!(requests.max_documents),
        ),
        (
            "/MessageRequest/properties/body/maxLength",
            json!(requests.message_max_chars),
        ),
        (
            "/MessageForm/properties/body/maxLength",
            json!(requests.message_max_chars),
        ),
        (
            "/MessageForm/properties/attachment/maxItems",
            json!(requests.max_attachments),
        ),
        (
            "/TransitionRequest/properties/note/maxLength",
            json!(requests.message_max_chars),
        ),
        (
            "/TransitionRequest/properties/reason/maxLength",
            json!(requests.message_max_chars),
        ),
        (
            "/TransitionForm/properties/note/maxLength",
            json!(requests.message_max_chars),
        ),
        (
            "/TransitionForm/properties/reason/maxLength",
            json!(requests.message_max_chars),
        ),
        (
            "/TransitionForm/properties/attachment/maxItems",
            json!(requests.max_attachments),
        ),
    ]
}

fn operations(doc: &mut Value) -> impl Iterator<Item = &mut Value> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotated() -> Value {
        serde_json::to_value(crate::openapi::annotated()).unwrap()
    }

    #[test]
    fn the_annotations_carry_the_embedded_defaults() {
        let settings = Settings::embedded_defaults().unwrap();
        let mut doc = annotated();
        crate::openapi::rules::apply(&mut doc);
        apply(&mut doc, &settings);
        let names = doc
            .pointer_mut("/components/schemas/ConsentRequest/properties/choices/propertyNames")
            .and_then(Value::as_object_mut)
            .unwrap();
        let purposes = names.remove("enum").unwrap();
        assert!(
            purposes.as_array().unwrap().contains(&json!("matomo")),
            "{purposes}"
        );
        names.remove("description");
        let mut plain = annotated();
        crate::openapi::rules::apply(&mut plain);
        assert_eq!(doc, plain);
    }

    #[test]
    fn every_configured_limit_has_its_place_in_the_document() {
        let settings = Settings::embedded_defaults().unwrap();
        let doc = annotated();
        for (pointer, _) in schema_limits(&settings) {
            assert!(
                doc["components"]["schemas"].pointer(pointer).is_some(),
                "{pointer} is not in the document"
            );
        }
    }

    #[test]
    fn an_instance_describes_its_own_limits() {
        let mut settings = Settings::embedded_defaults().unwrap();
        settings.limits.max_page_size = 20;
        settings.limits.max_page = 500;
        settings.consent.tc_string_max = 100;
        settings.auth.min_password_length = 16;
        let mut doc = annotated();
        apply(&mut doc, &settings);
        let per_page = doc
            .pointer("/paths/~1v1~1dpo~1requests/get/parameters")
            .and_then(Value::as_array)
            .and_then(|ps| ps.iter().find(|p| p["name"] == "per_page"))
            .cloned()
            .unwrap();
        assert_eq!(per_page["schema"]["maximum"], 20);
        assert_eq!(per_page["schema"]["default"], 20);
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["ConsentRequest"]["properties"]["tc_string"]["maxLength"],
            100
        );
        assert_eq!(
            schemas["NewStaff"]["properties"]["password"]["minLength"],
            16
        );
    }
}
