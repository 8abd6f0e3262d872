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
