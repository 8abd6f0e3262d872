//! Logs through `tracing`: human-readable text by default, JSON lines with
//! `log.format = "json"`. `RUST_LOG`, when set, overrides `log.level`.
//! A panic, wherever it happens, is one error line of the same log.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| EnvFilter::new(&settings.level));
    // Colour codes only for a person at a terminal: never in a file, a
    // pipe or the journal.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false);
    let result = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    // Already set (tests start several apps in one process): keep the first.
    let _ = result;
    std::panic::set_hook(Box::new(log_panic));
}

/// Logs a panic as one error line, `panicked at FILE:LINE:COLUMN`, with
/// the thread's name and the message when it is a fixed text. A formatted
/// message is left out: it may quote the input that caused the panic (a
/// name, an address), which the log never holds.
pub fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "an unknown place".into());
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    let what = panic_message(info.payload());
    if tracing::enabled!(target: "panic", tracing::Level::ERROR) {
        tracing::error!(target: "panic", %location, thread, what, "panicked at {location}");
    } else {
        // No log yet (or none for errors): standard error still says it.
        eprintln!("guichet: thread {thread} panicked at {location}: {what}");
    }
}

/// What a panic says, when that is a fixed text of the program; a message
/// built at run time may carry input, and is withheld.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &'static str {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .unwrap_or("(a formatted message, withheld from the log)")
}
