// One schema for both backends: portable column types only.

diesel::table! {
    tenants (id) {
        id -> Text,
        slug -> Text,
        name -> Text,
        dpo_email -> Text,
        postal_address -> Text,
        locale -> Text,
        require_id_document -> Bool,
        allowed_origins -> Text,
        consent_policy -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}
