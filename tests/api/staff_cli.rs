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
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("admin@guichet.fr") && lines[0].ends_with("active"));
    assert!(lines[1].contains("sevres"));

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
