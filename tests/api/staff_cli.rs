//! `guichet users …`: accounts managed from the command line, passwords
//! only through standard input.

use std::process::Output;

use crate::common::{guichet_cli as guichet, TestDatabase};

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn accounts_are_added_listed_disabled_and_given_new_passwords() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let secret = "a long and private passphrase";

    let out = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--tenant",
            "sevres",
            "--email",
            "dpo@ville-sevres.fr",
            "--role",
            "dpo",
            "--password-stdin",
        ],
        Some(&format!("{secret}\n")),
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("created dpo dpo@ville-sevres.fr"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "the password is never shown"
    );

    let out = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--email",
            "admin@guichet.fr",
            "--role",
            "admin",
            "--password-stdin",
        ],
        Some(&format!("{secret}\n")),
    );
    assert!(out.status.success(), "{}", text(&out).1);

    let weak = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--tenant",
            "nimes",
            "--email",
            "dpo@nimes.fr",
            "--role",
            "dpo",
            "--password-stdin",
        ],
        Some("azerty123456\n"),
    );
    let (_, stderr) = text(&weak);
    assert!(!weak.status.success());
    assert!(
        stderr.contains("password: Password is one of the most common passwords."),
        "{stderr}"
    );
    let short = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--tenant",
            "nimes",
            "--email",
            "dpo@nimes.fr",
            "--role",
            "dpo",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(text(&short).1.contains("at least 12 characters"));

    let no_stdin_flag = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--tenant",
            "nimes",
            "--email",
            "dpo@nimes.fr",
            "--role",
            "dpo",
        ],
        None,
    );
    assert!(!no_stdin_flag.status.success());
    assert!(text(&no_stdin_flag).1.contains("--password-stdin"));

    let dup = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--tenant",
            "sevres",
            "--email",
            "DPO@ville-sevres.fr",
            "--role",
            "dpo",
            "--password-stdin",
        ],
        Some(&format!("{secret}\n")),
    );
    assert!(text(&dup).1.contains("already uses this e-mail address"));

    let list = guichet(dir.path(), &db, &["users", "list"], None);
    let (stdout, _) = text(&list);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two accounts: {stdout}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["EMAIL", "ROLE", "TENANTS", "STATE"], "{stdout}");
    assert!(lines[1].starts_with("admin@guichet.fr") && lines[1].ends_with("active"));
    assert!(lines[2].contains("sevres"));

    let out = guichet(
        dir.path(),
        &db,
        &["users", "disable", "--email", "dpo@ville-sevres.fr"],
        None,
    );
    assert!(out.status.success());
    let (stdout, _) = text(&guichet(
        dir.path(),
        &db,
        &["users", "list", "--tenant", "sevres"],
        None,
    ));
    assert!(stdout.trim_end().ends_with("disabled"), "{stdout}");

    let out = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "set-password",
            "--email",
            "admin@guichet.fr",
            "--password-stdin",
        ],
        Some("another long passphrase\n"),
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let out = guichet(
        dir.path(),
        &db,
        &["users", "disable", "--email", "ghost@guichet.fr"],
        None,
    );
    assert!(text(&out).1.contains("no staff account"));
}

/// The journal entries naming an account, as actor or as subject, and
/// those naming a deleted account's pseudonym.
fn journal_of(dir: &std::path::Path, db: &TestDatabase, id: &str) -> (i64, i64) {
    use diesel::prelude::*;
    use guichet::db::schema::audit_events as journal;
    let mut conn = connect(dir, db);
    let named: i64 = journal::table
        .filter(journal::actor_id.eq(id).or(journal::subject_id.eq(id)))
        .count()
        .get_result(&mut conn)
        .unwrap();
    let pseudonymous: i64 = journal::table
        .filter(
            journal::actor_pseudonym
                .like("deleted-%")
                .or(journal::subject_id.like("deleted-%")),
        )
        .count()
        .get_result(&mut conn)
        .unwrap();
    (named, pseudonymous)
}

fn connect(dir: &std::path::Path, db: &TestDatabase) -> guichet::db::DbConnection {
    let settings = crate::common::test_settings(dir, db);
    guichet::db::ConnectionManager::new(&settings.database)
        .unwrap()
        .open()
        .unwrap()
}

#[test]
fn a_disabled_account_is_enabled_again_and_a_deleted_one_leaves_its_journal_pseudonymous() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create(dir.path());
    let add = guichet(
        dir.path(),
        &db,
        &[
            "users",
            "add",
            "--tenant",
            "nimes",
            "--email",
            "dpo@nimes.fr",
            "--role",
            "dpo",
            "--password-stdin",
        ],
        Some("a long and private passphrase\n"),
    );
    assert!(add.status.success(), "{}", text(&add).1);
    for (verb, state) in [("disable", "disabled"), ("enable", "active")] {
        let out = guichet(
            dir.path(),
            &db,
            &["users", verb, "--email", "dpo@nimes.fr"],
            None,
        );
        assert!(out.status.success(), "{}", text(&out).1);
        let (list, _) = text(&guichet(
            dir.path(),
            &db,
            &["users", "list", "--tenant", "nimes"],
            None,
        ));
        let line = list.lines().find(|l| l.contains("dpo@nimes.fr")).unwrap();
        assert!(line.trim_end().ends_with(state), "{list}");
    }
    let id = {
        use diesel::prelude::*;
        use guichet::db::schema::staff_users;
        let mut conn = connect(dir.path(), &db);
        staff_users::table
            .filter(staff_users::email.eq("dpo@nimes.fr"))
            .select(staff_users::id)
            .first::<String>(&mut conn)
            .unwrap()
    };
    let (named, _) = journal_of(dir.path(), &db, &id);
    assert!(named >= 3, "created, disabled, enabled: {named}");
    // What it did on a request: a move in the timeline, a note, the
    // identity it verified.
    let request = {
        use diesel::prelude::*;
        use guichet::db::schema::{request_notes, rights_requests};
        let mut conn = connect(dir.path(), &db);
        let nimes = crate::common::seed::tenant_id(&mut conn, "nimes");
        let data = crate::common::test_settings(dir.path(), &db)
            .storage
            .data_dir;
        crate::common::seed::closed_requests(&mut conn, &data, &nimes, 1, 10);
        let request: String = rights_requests::table
            .filter(rights_requests::tenant_id.eq(&nimes))
            .select(rights_requests::id)
            .first(&mut conn)
            .unwrap();
        let at = chrono::Utc::now().naive_utc();
        guichet::rights::store::add_event(
            &mut conn,
            &request,
            at,
            "dpo@nimes.fr",
            guichet::rights::lifecycle::Action::Transition,
            None,
            None,
        )
        .unwrap();
        guichet::on_backend!(&mut conn, |c| diesel::insert_into(request_notes::table)
            .values((
                request_notes::id.eq(uuid::Uuid::now_v7().to_string()),
                request_notes::request_id.eq(&request),
                request_notes::at.eq(at),
                request_notes::author.eq("dpo@nimes.fr"),
                request_notes::body.eq(Some("Pièce vérifiée.")),
            ))
            .execute(c))
        .unwrap();
        guichet::on_backend!(&mut conn, |c| diesel::update(
            rights_requests::table.find(&request)
        )
        .set(rights_requests::identity_by.eq(Some("dpo@nimes.fr")))
        .execute(c))
        .unwrap();
        request
    };

    let out = guichet(
        dir.path(),
        &db,
        &["users", "delete", "--email", "dpo@nimes.fr"],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("deleted-"), "{stdout}");
    let (list, _) = text(&guichet(dir.path(), &db, &["users", "list"], None));
    assert!(!list.contains("dpo@nimes.fr"), "{list}");
    let (named, pseudonymous) = journal_of(dir.path(), &db, &id);
    assert_eq!(named, 0, "no entry names the deleted account");
    // The request's records name it by the same pseudonym, never by address.
    let pseudonym = stdout.split_whitespace().last().unwrap().to_owned();
    {
        use diesel::prelude::*;
        use guichet::db::schema::{request_events, request_notes, rights_requests};
        let mut conn = connect(dir.path(), &db);
        let actors: Vec<String> = request_events::table
            .filter(request_events::request_id.eq(&request))
            .select(request_events::actor)
            .load(&mut conn)
            .unwrap();
        assert!(actors.contains(&pseudonym), "{actors:?}");
        let authors: Vec<String> = request_notes::table
            .filter(request_notes::request_id.eq(&request))
            .select(request_notes::author)
            .load(&mut conn)
            .unwrap();
        assert_eq!(authors, std::slice::from_ref(&pseudonym));
        let verified: Option<String> = rights_requests::table
            .find(&request)
            .select(rights_requests::identity_by)
            .first(&mut conn)
            .unwrap();
        assert_eq!(verified.as_deref(), Some(pseudonym.as_str()));
        assert!(!actors.iter().any(|a| a.contains("dpo@nimes.fr")));
    }
    assert!(
        pseudonymous >= 4,
        "its entries stay, the deletion's too: {pseudonymous}"
    );
    // Gone: deleting or enabling it again is one clear line.
    let out = guichet(
        dir.path(),
        &db,
        &["users", "enable", "--email", "dpo@nimes.fr"],
        None,
    );
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("no staff account"),
        "{}",
        text(&out).1
    );
    // Every option says what it is for.
    for args in [
        &["users", "enable", "--help"][..],
        &["users", "delete", "--help"][..],
    ] {
        let (help, _) = text(&guichet(dir.path(), &db, args, None));
        assert!(help.contains("e-mail address"), "{help}");
    }
}
