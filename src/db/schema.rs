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
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    staff_users,
    audit_events,
    consent_events,
    consent_daily_counts,
    mail_outbox
);

diesel::table! {
    consent_events (id) {
        id -> Text,
        tenant_id -> Text,
        subject_id -> Text,
        event -> Text,
        policy_version -> Text,
        choices -> Text,
        gpc -> Bool,
        at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        ip_pseudonym -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        page_url -> Nullable<Text>,
        tc_string -> Nullable<Text>,
        receipt -> Nullable<Text>,
    }
}

diesel::table! {
    consent_daily_counts (tenant_id, day, purpose_id) {
        tenant_id -> Text,
        day -> Text,
        purpose_id -> Text,
        accepted -> BigInt,
        refused -> BigInt,
        withdrawn -> BigInt,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        tenant_id -> Nullable<Text>,
        message_id -> Text,
        template -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Text,
        body_html -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}
