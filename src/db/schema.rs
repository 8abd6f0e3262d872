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

diesel::table! {
    staff_users (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        email -> Text,
        password_hash -> Text,
        role -> Text,
        disabled -> Bool,
        failed_attempts -> Integer,
        locked_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        at -> Timestamp,
        kind -> Text,
        actor_id -> Nullable<Text>,
        ip_pseudonym -> Nullable<Text>,
        subject_id -> Nullable<Text>,
        detail -> Nullable<Text>,
    }
}

diesel::joinable!(staff_users -> tenants (tenant_id));
diesel::joinable!(audit_events -> staff_users (actor_id));
diesel::allow_tables_to_appear_in_same_query!(tenants, staff_users, audit_events);
