//! What the annotations cannot write: rules between fields, as JSON Schema
//! `if`/`then` on the bodies they govern (a rejection needs a reason, an
//! opposition a scope), what a text must not hold (`not`: a link in a
//! name), and the names a map's keys take.

use serde_json::{json, Value};

use crate::rights::patterns::{LINK, NOT_BLANK};

/// What a purpose id looks like (`tenants.SLUG.consent.purposes[].id`).
const PURPOSE_ID: &str = "^[a-z0-9_-]{1,40}$";

/// Adds the rules to the components' schemas.
pub fn apply(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let reason = json!({
        "if": {"properties": {"to": {"const": "rejected"}}, "required": ["to"]},
        "then": {
            "properties": {"reason": {"type": "string", "pattern": NOT_BLANK}},
            "required": ["reason"]
        }
    });
    add(schemas, "TransitionRequest", vec![reason]);
    if let Some(choices) = schemas.pointer_mut("/ConsentRequest/properties/choices") {
        choices["propertyNames"] = json!({"type": "string", "pattern": PURPOSE_ID});
    }
    for (name, absent) in [
        (
            "SubmissionJson",
            json!({"properties": {"scope": {"type": "null"}}}),
        ),
        ("SubmissionForm", json!({"not": {"required": ["scope"]}})),
        (
            "StaffSubmissionJson",
            json!({"properties": {"scope": {"type": "null"}}}),
        ),
        (
            "StaffSubmissionForm",
            json!({"not": {"required": ["scope"]}}),
        ),
    ] {
        // `kind` or `kinds`, not both; an opposition among them has a scope.
        let one_way = json!({"not": {"required": ["kind", "kinds"]}});
        let scope = json!({
            "if": {"anyOf": [
                {"properties": {"kind": {"const": "opposition"}}, "required": ["kind"]},
                {"properties": {"kinds": {"type": "array", "contains": {"const": "opposition"}}}, "required": ["kinds"]}
            ]},
            "then": {
                "properties": {"scope": {"enum": ["prospection", "processing"]}},
                "required": ["scope"]
            },
            "else": absent
        });
        let grounds = json!({
            "if": {"properties": {"scope": {"const": "processing"}}, "required": ["scope"]},
            "then": {
                "properties": {"grounds": {"type": "string", "pattern": NOT_BLANK}},
                "required": ["grounds"]
            }
        });
        let mut rules = vec![one_way, scope, grounds];
        let acting = json!({
            "properties": {"on_behalf_of": {"type": "object"}},
            "required": ["on_behalf_of"]
        });
        let under_mandate = json!({
            "properties": {"on_behalf_of": {
                "type": "object",
                "properties": {"relation": {"const": "mandate"}},
                "required": ["relation"]
            }},
            "required": ["on_behalf_of"]
        });
        if name.ends_with("Form") {
            // A mandate's copy goes with it, and only with someone acted for.
            rules.push(json!({"if": under_mandate, "then": {"required": ["mandate"]}}));
            rules.push(json!({"if": {"not": acting}, "then": {"not": {"required": ["mandate"]}}}));
        } else {
            // JSON carries no file: a mandate is sent as a form.
            rules.push(json!({"not": under_mandate}));
        }
        add(schemas, name, rules);
        for field in ["first_name", "last_name"] {
            if let Some(property) = schemas.pointer_mut(&format!("/{name}/properties/{field}")) {
                property["not"] = json!({"pattern": LINK});
            }
        }
    }
    if let Some(on_behalf) = schemas.get_mut("OnBehalfOfSubmission") {
        for field in ["first_name", "last_name"] {
            if let Some(property) = on_behalf.pointer_mut(&format!("/properties/{field}")) {
                property["not"] = json!({"pattern": LINK});
            }
        }
    }
}

fn add(schemas: &mut Value, name: &str, rules: Vec<Value>) {
    if let Some(schema) = schemas.get_mut(name).and_then(Value::as_object_mut) {
        schema.insert("allOf".into(), Value::Array(rules));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rule_finds_its_schema() {
        let mut doc = serde_json::to_value(crate::openapi::annotated()).unwrap();
        super::apply(&mut doc);
        let schemas = &doc["components"]["schemas"];
        for name in [
            "TransitionRequest",
            "SubmissionJson",
            "SubmissionForm",
            "StaffSubmissionJson",
            "StaffSubmissionForm",
        ] {
            assert!(
                schemas[name]["allOf"].is_array(),
                "{name} carries its rules"
            );
        }
        assert_eq!(
            schemas["ConsentRequest"]["properties"]["choices"]["propertyNames"]["pattern"],
            super::PURPOSE_ID
        );
        for name in ["SubmissionJson", "SubmissionForm"] {
            for field in ["first_name", "last_name"] {
                assert_eq!(
                    schemas[name]["properties"][field]["not"]["pattern"],
                    super::LINK,
                    "{name}.{field}"
                );
            }
        }
    }
}
