//! Where event lines go: a syslog socket (RFC 3164 through the `syslog` crate), journald's
//! native socket, or stderr. One file per concern: `header` (the wire formats around a
//! line), `journal` (journald's native protocol), `queue` (what waits during an outage),
//! `socket` (connection, reconnection, back-off), `stderr` (stderr, with the journal's
//! priority prefix under systemd).
//!
//! A send that cannot go now (receiver gone, its buffer full) queues the line; the queue
//! is retried on a back-off deadline that the event loop turns into its poll timeout,
//! and only while it holds something: a healthy, idle log path makes no system call.

mod header;
pub mod journal;
mod queue;
mod socket;
mod stderr;

use std::io;

use syslog::Severity;

pub use header::{DATAGRAM_CAPACITY, Entry, Header, Protocol};
pub use queue::QUEUE_LINES;
pub use socket::DEFAULT_SOCKETS;
pub use stderr::is_journal_stream;

use crate::logfmt::Line;
use crate::sys;
use socket::Socket;

/// The destination of event lines.
pub enum Sink {
    Socket(Box<Socket>),
    Stderr,
}

impl Sink {
    /// A syslog sink on `path` (or the crate's default sockets). A socket that cannot be
    /// reached now is retried later; the error says why it failed this time, and the
    /// caller reports it (the sink will not report this outage again).
    pub fn syslog(header: Header, path: Option<String>) -> (Sink, Option<io::Error>) {
        let (socket, error) = Socket::open(Protocol::Syslog(header), path, false);
        (Sink::Socket(Box::new(socket)), error)
    }

    /// A journald sink on `path` (default `journal::JOURNAL_SOCKET`).
    pub fn journal(header: Header, path: Option<String>) -> (Sink, Option<io::Error>) {
        let path = path.unwrap_or_else(|| journal::JOURNAL_SOCKET.to_string());
        let (socket, error) = Socket::open(Protocol::Journal(header), Some(path), true);
        (Sink::Socket(Box::new(socket)), error)
    }

    /// Lets the queue hold one line per trigger when there are more than `QUEUE_LINES`.
    pub fn fit_queue(&mut self, triggers: usize) {
        if let Sink::Socket(socket) = self {
            socket.queue.fit(triggers);
        }
    }

    /// The text to print once when the socket cannot be reached at start.
    pub fn unreachable_note(&self, error: &io::Error) -> String {
        let limit = match self {
            Sink::Socket(socket) => socket.queue.limit(),
            Sink::Stderr => QUEUE_LINES,
        };
        format!(
            "psi-syslogd: cannot reach the log socket {} ({error}); starting anyway, keeping \
             up to {limit} lines and delivering them once it can be reached",
            self.destination()
        )
    }

    /// Sends one line, or queues it when the receiver cannot take it now. Never blocks.
    pub fn emit(&mut self, severity: Severity, line: &Line) {
        match self {
            Sink::Stderr => stderr::write(severity, line.as_str()),
            Sink::Socket(socket) => socket.emit(severity, line.as_str()),
        }
    }

    /// Sends one line and everything queued before it now; Err when something is still
    /// queued (it stays queued). On stderr writes it there.
    pub fn deliver(&mut self, severity: Severity, line: &Line) -> io::Result<()> {
        match self {
            Sink::Stderr => {
                stderr::write(severity, line.as_str());
                Ok(())
            }
            Sink::Socket(socket) => {
                socket.emit(severity, line.as_str());
                if !socket.queue.is_empty() {
                    socket.flush(sys::monotonic_us());
                }
                if socket.queue.is_empty() {
                    Ok(())
                } else {
                    Err(io::Error::from_raw_os_error(libc::ENOTCONN))
                }
            }
        }
    }

    /// The socket path, or "stderr".
    pub fn destination(&self) -> &str {
        match self {
            Sink::Socket(socket) => socket.destination(),
            Sink::Stderr => "stderr",
        }
    }

    pub fn is_stderr(&self) -> bool {
        matches!(self, Sink::Stderr)
    }

    /// When the sink wants to be woken to retry delivery (CLOCK_MONOTONIC microseconds,
    /// as `sys::monotonic_us`); `None` while nothing waits.
    pub fn retry_deadline_us(&self) -> Option<u64> {
        match self {
            Sink::Socket(socket) => socket.retry_deadline_us(),
            Sink::Stderr => None,
        }
    }

    /// Retries delivery of queued lines if their deadline has come.
    pub fn retry(&mut self, now_us: u64) {
        if let Sink::Socket(socket) = self {
            socket.retry(now_us);
        }
    }

    /// How many lines wait for the receiver.
    pub fn queued(&self) -> usize {
        match self {
            Sink::Socket(socket) => socket.queue.len(),
            Sink::Stderr => 0,
        }
    }
}

/// At exit, one last try; what still cannot be delivered goes to stderr.
impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::Socket(socket) = self {
            socket.farewell();
        }
    }
}

/// A note on stderr (`<N>`-prefixed when stderr is the journal's stream).
pub fn write_stderr(severity: Severity, text: &str) {
    stderr::write(severity, text);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;
    use syslog::Facility;

    fn header() -> Header {
        Header {
            facility: Facility::LOG_DAEMON,
            ident: "psi-syslogd".into(),
            pid: 42,
        }
    }

    /// A stream receiver that stops reading: sends stop at EAGAIN with part of a frame
    /// in the writer; once it reads again every frame arrives whole, once, in order.
    #[test]
    fn a_stalled_stream_receiver_gets_whole_frames_in_order() {
        use std::io::Read;
        use std::os::unix::net::UnixListener;
        let dir = std::env::temp_dir().join(format!("psi-stream-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (mut sink, error) = Sink::syslog(header(), Some(path.to_str().unwrap().into()));
        assert!(error.is_none(), "{error:?}");
        let (mut stream, _) = listener.accept().unwrap();
        let padding = "x".repeat(700);
        // Until the socket buffer is full and half the queue is used.
        let mut lines = 0;
        while sink.queued() < QUEUE_LINES / 2 {
            let mut line = Line::event("n");
            line.field("n", lines).field("pad", &padding);
            sink.emit(Severity::LOG_INFO, &line);
            lines += 1;
        }
        let Sink::Socket(socket) = &sink else {
            unreachable!()
        };
        assert!(socket.frame_in_flight(), "a frame went out in part");
        stream.set_nonblocking(true).unwrap();
        let mut received = Vec::new();
        let mut buffer = [0u8; 65536];
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while received.iter().filter(|&&b| b == 0).count() < lines {
            assert!(std::time::Instant::now() < deadline, "frames missing");
            match stream.read(&mut buffer) {
                Ok(n) => received.extend_from_slice(&buffer[..n]),
                Err(_) => sink.retry(u64::MAX),
            }
        }
        let frames: Vec<&[u8]> = received.split(|&b| b == 0).collect();
        for (n, frame) in frames[..lines].iter().enumerate() {
            let text = std::str::from_utf8(frame).unwrap();
            let body = text.split_once("]: ").unwrap().1;
            assert_eq!(body, format!("event=n n={n} pad={padding}"));
        }
        assert_eq!(frames[lines], b"");
        assert_eq!(sink.queued(), 0);
        drop(sink);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// journald restarting is the same outage: the entry waits, then arrives whole.
    #[test]
    fn journal_entries_wait_for_the_socket_too() {
        let dir = std::env::temp_dir().join(format!("psi-journal-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("socket");
        let (mut sink, error) = Sink::journal(header(), Some(path.to_str().unwrap().into()));
        assert!(error.is_some());
        let mut line = Line::event("pressure");
        line.field("resource", "io").cgroup_path("/");
        sink.emit(Severity::LOG_WARNING, &line);
        assert_eq!(sink.queued(), 1);
        let journald = UnixDatagram::bind(&path).unwrap();
        sink.retry(u64::MAX);
        assert_eq!(sink.queued(), 0);
        let mut buffer = [0u8; journal::ENTRY_CAPACITY];
        let len = journald.recv(&mut buffer).unwrap();
        let entry = std::str::from_utf8(&buffer[..len]).unwrap();
        assert!(
            entry.starts_with("MESSAGE=event=pressure resource=io cgroup=/\nMESSAGE_ID="),
            "{entry}"
        );
        assert!(
            entry.ends_with("PSI_EVENT=pressure\nPSI_RESOURCE=io\nPSI_CGROUP=/\n"),
            "{entry}"
        );
        drop(sink);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_queue_keeps_order_and_counts_what_it_drops() {
        let dir = std::env::temp_dir().join(format!("psi-sink-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.sock");
        let (mut sink, error) = Sink::syslog(header(), Some(path.to_str().unwrap().into()));
        assert!(error.is_some(), "no socket yet");
        let extra = 5;
        for n in 0..QUEUE_LINES + extra {
            let mut line = Line::event("n");
            line.field("n", n);
            sink.emit(Severity::LOG_INFO, &line);
        }
        assert_eq!(sink.queued(), QUEUE_LINES);
        assert!(sink.retry_deadline_us().is_some());
        let receiver = UnixDatagram::bind(&path).unwrap();
        receiver.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 2048];
        for n in extra..QUEUE_LINES + extra {
            // The receiver's queue takes net.unix.max_dgram_qlen (10) datagrams; the
            // rest wait in ours (EAGAIN) until it reads.
            let len = loop {
                match receiver.recv(&mut buffer) {
                    Ok(len) => break len,
                    Err(_) => sink.retry(u64::MAX),
                }
            };
            let text = std::str::from_utf8(&buffer[..len]).unwrap();
            let body = text.split_once("]: ").unwrap().1;
            if n == extra {
                assert_eq!(body, format!("event=n n={n} dropped={extra}"));
            } else {
                assert_eq!(body, format!("event=n n={n}"));
            }
        }
        assert_eq!(sink.queued(), 0);
        assert_eq!(sink.retry_deadline_us(), None);
        drop(sink);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn with_many_triggers_the_queue_holds_one_line_each() {
        let path = std::env::temp_dir().join(format!("psi-sink-fit-{}.sock", std::process::id()));
        let (mut sink, error) = Sink::syslog(header(), Some(path.to_str().unwrap().into()));
        assert!(error.is_some(), "no socket");
        let triggers = 3 * QUEUE_LINES;
        sink.fit_queue(triggers);
        for n in 0..triggers + 2 {
            let mut line = Line::event("n");
            line.field("n", n);
            sink.emit(Severity::LOG_INFO, &line);
        }
        assert_eq!(sink.queued(), triggers, "two dropped, no more");
        // Fewer triggers never shrink the queue below the default.
        let (mut small, _) = Sink::syslog(header(), Some(path.to_str().unwrap().into()));
        small.fit_queue(3);
        for n in 0..QUEUE_LINES + 1 {
            let mut line = Line::event("n");
            line.field("n", n);
            small.emit(Severity::LOG_INFO, &line);
        }
        assert_eq!(small.queued(), QUEUE_LINES);
    }
}
