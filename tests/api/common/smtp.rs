//! A real SMTP server inside the test process, so that `cargo test` needs
//! nothing installed: the protocol is `mailin`'s (the engine of
//! `mailin-embedded`), on a listener of the harness's own, because a test
//! stops the server and starts it again on the same port (mail queued while
//! it is down), which `mailin-embedded`'s never-ending `serve` cannot do.
//!
//! It accepts mail for any address and keeps each message, raw, in arrival
//! order; it refuses recipients starting with `reject` (550, permanent) and
//! `later` (451, transient).

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use mailin::{response, Action, Handler, Response, SessionBuilder};

use guichet::config::Settings;

type Inbox = Arc<Mutex<Vec<Vec<u8>>>>;

/// The server, listening on `port` while it runs.
pub struct SmtpServer {
    pub port: u16,
    inbox: Inbox,
    running: Option<Running>,
}

/// The accepting thread, and the connections it has taken, to close them
/// all when the server stops (as a server process that ends would).
struct Running {
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: JoinHandle<()>,
}

impl SmtpServer {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the SMTP server");
        let port = listener.local_addr().unwrap().port();
        let mut server = Self {
            port,
            inbox: Arc::default(),
            running: None,
        };
        server.serve(listener);
        server
    }

    /// Starts the server again on its port.
    pub fn resume(&mut self) {
        assert!(self.running.is_none(), "the SMTP server is running");
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the SMTP server's port");
        self.serve(listener);
    }

    /// Stops listening and closes every open connection: a client then
    /// finds the port refused until `resume`.
    pub fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stop` and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        running.acceptor.join().expect("the SMTP acceptor ended");
        for c in running
            .connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    fn serve(&mut self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let acceptor = std::thread::spawn({
            let (stop, connections, inbox) =
                (stop.clone(), connections.clone(), self.inbox.clone());
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let Ok(clone) = stream.try_clone() {
                        connections
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(clone);
                    }
                    let inbox = inbox.clone();
                    std::thread::spawn(move || {
                        let _ = session(stream, inbox);
                    });
                }
            }
        });
        self.running = Some(Running {
            stop,
            connections,
            acceptor,
        });
    }

    /// Every message received so far, raw, in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Every message received so far, in arrival order, each read as
    /// (to, subject, text part, HTML part).
    pub fn letters(&self) -> Vec<(String, String, String, String)> {
        self.messages().iter().map(|raw| letter(raw)).collect()
    }

    /// Points the app's settings at this server.
    pub fn configure(&self, s: &mut Settings) {
        s.mail.transport = guichet::config::MailTransportKind::Smtp;
        s.mail.smtp.host = "127.0.0.1".into();
        s.mail.smtp.port = self.port;
        s.mail.smtp.tls = guichet::config::SmtpTls::None;
        s.mail.smtp.timeout_secs = 5;
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One client's SMTP session, until it quits or the connection closes.
fn session(stream: TcpStream, inbox: Inbox) -> std::io::Result<()> {
    let remote = stream.peer_addr()?.ip();
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let mut session = SessionBuilder::new("guichet-tests").build(
        remote,
        Mailbox {
            inbox,
            message: Vec::new(),
        },
    );
    session.greeting().write_to(&mut writer)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let res = session.process(&line);
        match res.action {
            Action::Reply => res.write_to(&mut writer)?,
            Action::Close => {
                res.write_to(&mut writer)?;
                return Ok(());
            }
            Action::UpgradeTls => return Ok(()),
            Action::NoReply => {}
        }
        writer.flush()?;
    }
}

/// What the server does with each step of a message.
struct Mailbox {
    inbox: Inbox,
    message: Vec<u8>,
}

impl Handler for Mailbox {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.starts_with("reject") {
            response::NO_MAILBOX
        } else if to.starts_with("later") {
            Response::custom(451, "Try again later".into())
        } else {
            response::OK
        }
    }

    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        _to: &[String],
    ) -> Response {
        self.message.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.message.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(std::mem::take(&mut self.message));
        response::OK
    }
}

/// One raw message read as (to, subject, text part, HTML part).
pub fn letter(raw: &[u8]) -> (String, String, String, String) {
    let m = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("a message the SMTP server accepted parses");
    (
        m.to()
            .and_then(|to| to.first())
            .and_then(|to| to.address())
            .expect("a recipient")
            .to_owned(),
        m.subject().unwrap_or("").to_owned(),
        m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
    )
}
