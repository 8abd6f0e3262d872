//! The service's logs in the tests: captured as JSON lines, kept per test
//! process under `target/tmp/test-logs/`, and checked for personal data
//! and panics.

use std::sync::{Mutex, Once};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static LOGS_INIT: Once = Once::new();

/// Everything the service logged in this test process, as JSON lines.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

struct Capture;

/// Where the logs of the whole test run are kept, one file per test process
/// (and per service process a test starts), for CI's final check of them all
/// (`.ci/check-logs.py`).
pub fn log_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-logs");
    std::fs::create_dir_all(&dir).expect("test log folder");
    dir
}

/// A new file of the test run's logs, for what a child process writes.
pub fn log_file(what: &str) -> std::fs::File {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{}-{}-{what}-{n}.log", test_binary(), std::process::id());
    std::fs::File::create(log_dir().join(name)).expect("test log file")
}

fn test_binary() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "test".into())
}

static LOG_FILE: std::sync::OnceLock<Mutex<std::fs::File>> = std::sync::OnceLock::new();

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        let file = LOG_FILE.get_or_init(|| Mutex::new(log_file("in-process")));
        file.lock()
            .unwrap_or_else(|p| p.into_inner())
            .write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends the service's logs, as the JSON format writes them, to a buffer
/// the tests can read.
pub(crate) fn capture_logs() {
    LOGS_INIT.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(|| Capture)
            .try_init();
        // A panic anywhere in the process is logged as the service logs it
        // (`guichet serve` installs the same hook), then reported as usual.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            guichet::telemetry::log_panic(info);
            report(info);
        }));
    });
}

/// Names of the citizens the tests make up; none may reach the logs (CI's
/// check of the whole run's logs reads the same list).
fn citizen_names() -> impl Iterator<Item = &'static str> {
    include_str!("../../citizen_names.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The service's logs must carry no e-mail address, no client address and
/// no citizen's name: checked whenever a test's app goes away, over
/// everything logged in the process so far.
pub fn assert_no_personal_data_logged() {
    assert_no_personal_data_in(&logs());
}

/// The same check over logs read elsewhere (a `guichet` process's output).
pub fn assert_no_personal_data_in(logs: &str) {
    for line in logs.lines() {
        // The start-up lines name the listening address and the database
        // server, which are no one's personal data.
        if line.contains("\"listening\"")
            || line.contains("\"target\":\"actix_server")
            || line.contains("PostgreSQL at ")
        {
            continue;
        }
        for name in citizen_names() {
            assert!(!line.contains(name), "a citizen's name in the logs: {line}");
        }
        assert!(
            !line.contains("127.0.0.1") && !line.contains("::1"),
            "a client address in the logs: {line}"
        );
        let bytes = line.as_bytes();
        for (i, _) in line.match_indices('@') {
            let word = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
            let before = i > 0 && word(bytes[i - 1]);
            let after = bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphanumeric());
            assert!(!(before && after), "an e-mail address in the logs: {line}");
        }
    }
}

/// No panic in the service: none of the logs' lines may say `panicked at`
/// a place outside the tests' own code (a test's failed assertion, or a
/// handler a test mounts to panic on purpose, is at `tests/…`). A line of
/// the standard panic report, before the log was set up, counts too.
pub fn assert_no_panic_in(logs: &str) {
    for line in logs.lines().filter(|l| l.contains("panicked at")) {
        let location = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|l| l["location"].as_str().map(str::to_owned));
        let planted = location.is_some_and(|l| l.starts_with("tests/"));
        assert!(planted, "the service panicked: {line}");
    }
}
