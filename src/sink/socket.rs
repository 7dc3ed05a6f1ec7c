//! A socket destination (a syslog socket or journald's) and what keeps its lines alive
//! across outages: the connection, made afresh when the receiver is replaced (the
//! `syslog` crate never reconnects: upstream issue #21), the queue, and the back-off.

use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

use syslog::{LogFormat, Logger, LoggerBackend, Severity};

use super::header::{Entry, Protocol};
use super::journal;
use super::queue::Queue;
use super::stderr;
use crate::sys;

/// The sockets the `syslog` crate tries when none is named, in its order.
pub const DEFAULT_SOCKETS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];
/// The first retry after a failed send, doubled at each failure without progress up to
/// `RETRY_MAX_US`. A receiver that is there but slow (EAGAIN: a unix datagram receiver
/// queues only net.unix.max_dgram_qlen, 10, datagrams) takes the next batch 10 ms
/// later; one that is away costs a connect (3 system calls) every 2 s, which is
/// nothing, and gets the queue within 2 s of coming back.
const RETRY_FIRST_US: u64 = 10_000;
const RETRY_MAX_US: u64 = 2_000_000;

/// The crate's backend, or none while the receiver cannot be reached: a send then fails
/// with ENOTCONN like any other lost connection.
pub struct Connection(Option<LoggerBackend>);

impl Write for Connection {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Some(backend) => backend.write(bytes),
            None => Err(io::Error::from_raw_os_error(libc::ENOTCONN)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Some(backend) => backend.flush(),
            None => Ok(()),
        }
    }
}

impl Connection {
    /// Bytes of a stream frame the socket has not taken yet.
    fn pending(&self) -> bool {
        matches!(&self.0, Some(LoggerBackend::UnixStream(writer)) if !writer.buffer().is_empty())
    }
}

/// What a failed send means for the connection.
enum Failure {
    /// The receiver is gone or was replaced: connect afresh.
    Lost,
    /// The receiver is there but cannot take more now: keep the connection.
    Busy,
    /// This line can never be sent (too big for the receiver).
    Refused,
}

fn classify(error: &io::Error) -> Failure {
    match error.raw_os_error() {
        Some(libc::EAGAIN | libc::ENOBUFS) => Failure::Busy,
        Some(libc::EMSGSIZE) => Failure::Refused,
        // ECONNREFUSED, ENOTCONN, ECONNRESET, EPIPE, ENOENT, and anything unexpected:
        // a fresh connection is the one remedy we have.
        _ if error.kind() == io::ErrorKind::WouldBlock => Failure::Busy,
        _ => Failure::Lost,
    }
}

/// Whether this outage was reported on stderr, and what it dropped, for its end.
#[derive(Default)]
struct Outage {
    reported: bool,
    dropped: u64,
}

/// A socket destination.
pub struct Socket {
    logger: Logger<Connection, Protocol>,
    /// None: the syslog crate's default sockets, in order.
    path: Option<String>,
    journal: bool,
    pub queue: Queue,
    /// The front line's stream frame is partly sent and the rest waits in the writer;
    /// the number is the `dropped=` count that frame carries.
    in_flight: Option<u64>,
    retry_at_us: u64,
    backoff_us: u64,
    outage: Outage,
}

impl Socket {
    /// A destination on `path` (or the crate's default sockets). A socket that cannot be
    /// reached now is retried later; the error says why it failed this time, and the
    /// caller reports it (this outage is not reported again).
    pub fn open(
        protocol: Protocol,
        path: Option<String>,
        journal: bool,
    ) -> (Socket, Option<io::Error>) {
        let (backend, error) = match connect(path.as_deref(), journal) {
            Ok(backend) => (Some(backend), None),
            Err(e) => (None, Some(e)),
        };
        let socket = Socket {
            logger: Logger::new(Connection(backend), protocol),
            path,
            journal,
            queue: Queue::new(),
            in_flight: None,
            retry_at_us: 0,
            backoff_us: RETRY_FIRST_US,
            outage: Outage {
                reported: error.is_some(),
                dropped: 0,
            },
        };
        (socket, error)
    }

    pub fn destination(&self) -> &str {
        self.path.as_deref().unwrap_or(DEFAULT_SOCKETS[0])
    }

    /// Whether a stream frame went out in part and the rest waits in the writer.
    pub fn frame_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// When to retry the queue (CLOCK_MONOTONIC microseconds), while it holds lines.
    pub fn retry_deadline_us(&self) -> Option<u64> {
        (!self.queue.is_empty()).then_some(self.retry_at_us)
    }

    /// Sends one line, or queues it when the receiver cannot take it now. Never blocks.
    pub fn emit(&mut self, severity: Severity, body: &str) {
        let seconds = sys::wall_clock_seconds();
        if self.queue.is_empty() {
            let entry = Entry {
                seconds,
                body,
                dropped: self.queue.dropped(),
            };
            match self.send_fresh(severity, &entry) {
                Ok(()) => self.queue.sent_directly(entry.dropped),
                Err(Failure::Refused) => self.refused(body),
                Err(failure) => {
                    self.enqueue(seconds, severity, body);
                    if self.in_flight_after(&failure) {
                        self.in_flight = Some(entry.dropped);
                    }
                    self.schedule(sys::monotonic_us());
                }
            }
            return;
        }
        self.enqueue(seconds, severity, body);
        let now_us = sys::monotonic_us();
        if now_us >= self.retry_at_us {
            self.flush(now_us);
        }
    }

    /// Sends `entry` on the connection, reconnecting once at once if the receiver was
    /// replaced since the last line (the usual case after a restart while we were idle).
    fn send_fresh(&mut self, severity: Severity, entry: &Entry<'_>) -> Result<(), Failure> {
        match self.send(severity, entry) {
            Err(Failure::Lost) => {
                self.reconnect().map_err(|()| Failure::Lost)?;
                self.send(severity, entry)
            }
            other => other,
        }
    }

    fn send(&mut self, severity: Severity, entry: &Entry<'_>) -> Result<(), Failure> {
        let result = self
            .logger
            .formatter
            .format(&mut self.logger.backend, severity, entry);
        match result {
            Ok(()) => Ok(()),
            Err(syslog::Error::Write(e) | syslog::Error::Io(e)) => Err(self.failed(&e)),
            Err(e) => Err(self.failed(&io::Error::other(e.to_string()))),
        }
    }

    /// Notes the failure: a lost connection is dropped, and the first failure of an
    /// outage is reported on stderr.
    fn failed(&mut self, error: &io::Error) -> Failure {
        let failure = classify(error);
        if matches!(failure, Failure::Lost) {
            self.logger.backend.0 = None;
            self.in_flight = None;
        }
        // A busy receiver is flow control, not an outage: a burst longer than its
        // queue (10 datagrams) is normal. It is reported only if lines get dropped.
        if !self.outage.reported && matches!(failure, Failure::Lost) {
            self.outage.reported = true;
            stderr::write(
                Severity::LOG_WARNING,
                &format!(
                    "psi-syslogd: cannot send to {} ({error}); keeping up to {} lines and \
                     retrying until it takes them",
                    self.destination(),
                    self.queue.limit()
                ),
            );
        }
        failure
    }

    /// A busy stream may hold part of the frame in its writer: that line is in flight.
    fn in_flight_after(&self, failure: &Failure) -> bool {
        matches!(failure, Failure::Busy) && self.logger.backend.pending()
    }

    fn reconnect(&mut self) -> Result<(), ()> {
        match connect(self.path.as_deref(), self.journal) {
            Ok(backend) => {
                self.logger.backend.0 = Some(backend);
                self.in_flight = None;
                Ok(())
            }
            Err(e) => {
                let _ = self.failed(&e);
                Err(())
            }
        }
    }

    /// Queues a line; when the queue is full its oldest line goes, which is said once
    /// per outage.
    fn enqueue(&mut self, seconds: i64, severity: Severity, body: &str) {
        let dropped = self
            .queue
            .push(seconds, severity, body, self.in_flight.is_some());
        if dropped {
            self.outage.dropped += 1;
            if !self.outage.reported {
                self.outage.reported = true;
                stderr::write(
                    Severity::LOG_WARNING,
                    &format!(
                        "psi-syslogd: {} takes lines slower than they come; the queue of {} \
                         lines is full and its oldest lines are dropped",
                        self.destination(),
                        self.queue.limit()
                    ),
                );
            }
        }
    }

    /// The next retry, one back-off step later than the last.
    fn schedule(&mut self, now_us: u64) {
        self.retry_at_us = now_us.saturating_add(self.backoff_us);
        self.backoff_us = (self.backoff_us * 2).min(RETRY_MAX_US);
    }

    fn refused(&self, body: &str) {
        stderr::write(
            Severity::LOG_WARNING,
            &format!(
                "psi-syslogd: {} refused a line as too long; the line was: {body}",
                self.destination()
            ),
        );
    }

    /// Retries delivery of queued lines if their deadline has come.
    pub fn retry(&mut self, now_us: u64) {
        if !self.queue.is_empty() && now_us >= self.retry_at_us {
            self.flush(now_us);
        }
    }

    /// Sends queued lines, oldest first, until the queue is empty or a send fails.
    pub fn flush(&mut self, now_us: u64) {
        if self.logger.backend.0.is_none() && self.reconnect().is_err() {
            self.schedule(now_us);
            return;
        }
        // One fresh connection per attempt: a receiver that accepts connections but
        // fails every send waits for the back-off like one that is away.
        let mut reconnected = false;
        while let Some((entry, severity)) = self.queue.front() {
            // The `dropped=` count the frame being sent carries.
            let carried;
            let outcome = if let Some(count) = self.in_flight {
                carried = count;
                match self.logger.backend.flush() {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.failed(&e)),
                }
            } else {
                carried = entry.dropped;
                // Not `send`: it needs the whole socket, and the entry borrows the queue.
                let result =
                    self.logger
                        .formatter
                        .format(&mut self.logger.backend, severity, &entry);
                match result {
                    Ok(()) => Ok(()),
                    Err(syslog::Error::Write(e) | syslog::Error::Io(e)) => Err(self.failed(&e)),
                    Err(e) => Err(self.failed(&io::Error::other(e.to_string()))),
                }
            };
            match outcome {
                Ok(()) => {
                    self.queue.delivered(carried);
                    self.in_flight = None;
                    self.backoff_us = RETRY_FIRST_US;
                }
                Err(Failure::Refused) => {
                    if let Some(lost) = self.queue.discard_front() {
                        self.refused(&lost);
                    }
                }
                Err(failure) => {
                    if self.in_flight_after(&failure) {
                        self.in_flight = Some(carried);
                    }
                    if matches!(failure, Failure::Lost) && !reconnected {
                        reconnected = true;
                        if self.reconnect().is_ok() {
                            continue;
                        }
                    }
                    self.schedule(now_us);
                    return;
                }
            }
        }
        self.backoff_us = RETRY_FIRST_US;
        if self.outage.reported {
            let dropped = std::mem::take(&mut self.outage).dropped;
            stderr::write(
                Severity::LOG_NOTICE,
                &format!(
                    "psi-syslogd: {} takes lines again; the queue is delivered ({dropped} \
                     lines were dropped)",
                    self.destination()
                ),
            );
        }
    }

    /// At exit: one last try, and what still cannot be delivered goes to stderr, so no
    /// line disappears without a trace.
    pub fn farewell(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        self.flush(sys::monotonic_us());
        for body in self.queue.bodies() {
            stderr::write(
                Severity::LOG_WARNING,
                &format!(
                    "psi-syslogd: exiting before {} could take this line: {body}",
                    self.destination()
                ),
            );
        }
        if self.queue.dropped() != 0 {
            stderr::write(
                Severity::LOG_WARNING,
                &format!(
                    "psi-syslogd: {} more lines were dropped while {} was unreachable",
                    self.queue.dropped(),
                    self.destination()
                ),
            );
        }
    }
}

/// Connects to `path`, or to the first of the default sockets that is a socket: on
/// Debian /var/run/log is the journal's directory, and connecting to it would report
/// ECONNREFUSED under the name of /dev/log. A datagram socket first; EPROTOTYPE means
/// the receiver listens on a stream socket (never journald). Both are non-blocking: a
/// full receiver makes a send fail with EAGAIN, which queues the line, instead of
/// stopping the loop.
fn connect(path: Option<&str>, journal: bool) -> io::Result<LoggerBackend> {
    let Some(path) = path else {
        let is_socket =
            |candidate: &str| std::fs::metadata(candidate).is_ok_and(|m| m.file_type().is_socket());
        return match DEFAULT_SOCKETS.into_iter().find(|c| is_socket(c)) {
            Some(candidate) => connect(Some(candidate), journal),
            None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
        };
    };
    let socket = UnixDatagram::unbound()?;
    match socket.connect(path) {
        Ok(()) => {
            socket.set_nonblocking(true)?;
            Ok(LoggerBackend::Unix(socket))
        }
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) && !journal => {
            let stream = UnixStream::from(sys::connect_stream_nonblocking(Path::new(path))?);
            // One frame (a line and its NUL, as glibc's syslog(3) ends it) fits, so a
            // frame is either taken whole by the writer or not at all.
            Ok(LoggerBackend::UnixStream(BufWriter::with_capacity(
                journal::ENTRY_CAPACITY,
                stream,
            )))
        }
        Err(e) => Err(e),
    }
}
