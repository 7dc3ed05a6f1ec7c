//! Where event lines go: a syslog socket (RFC 3164 through the `syslog` crate), journald's
//! native socket, or stderr; and the queue that carries lines across a receiver's outage.
//!
//! The `syslog` crate never reconnects (upstream issue #21), so the connection lives here:
//! a send that finds the receiver gone drops the connection and connects afresh; a send
//! that cannot go now (receiver gone, its buffer full) queues the line. The queue is
//! retried on a back-off deadline the event loop turns into its poll timeout, and only
//! while it holds something: a healthy, idle log path makes no system call.

use std::collections::VecDeque;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::Path;

use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

use crate::journal;
use crate::message::{LINE_CAPACITY, Line};
use crate::sys;

/// The sockets the `syslog` crate tries when none is named, in its order.
pub const DEFAULT_SOCKETS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];
/// RFC 3164's limit for a whole message.
const DATAGRAM_CAPACITY: usize = 1024;
/// Lines kept while the receiver is away. At one line per trigger per 2 s window (the
/// worst case without episodes) and the three default triggers, 128 lines span 85 s of
/// continuous alerts, longer than any syslogd or journald takes to restart; a boot
/// without /dev/log keeps the first 128. Each slot is `LINE_CAPACITY` bytes, reserved
/// once and touched only when used (RSS grows only during an outage). With more triggers
/// than that the queue holds one line per trigger (`Sink::fit_queue`): each trigger logs
/// at most one line per turn of the loop, so a burst of all of them at once still fits.
pub const QUEUE_LINES: usize = 128;
/// The first retry after a failed send, doubled at each failure without progress up to
/// `RETRY_MAX_US`. A receiver that is there but slow (EAGAIN: a unix datagram receiver
/// queues only net.unix.max_dgram_qlen, 10, datagrams) takes the next batch 10 ms
/// later; one that is away costs a connect (3 system calls) every 2 s, which is
/// nothing, and gets the queue within 2 s of coming back.
const RETRY_FIRST_US: u64 = 10_000;
const RETRY_MAX_US: u64 = 2_000_000;

/// The RFC 3164 header: `<PRI>Mmm dd hh:mm:ss IDENT[PID]: `. The timestamp is local
/// time, as glibc's syslog(3) sends it: receivers that keep the client's timestamp
/// (BusyBox syslogd) store it as it is, and `Formatter3164`'s UTC would be hours off.
#[derive(Clone)]
pub struct Header {
    pub facility: Facility,
    pub ident: String,
    pub pid: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Header {
    /// Writes the header, stamped now, and `body` into `datagram`; returns the length.
    pub fn compose(&self, severity: Severity, body: &str, datagram: &mut [u8]) -> usize {
        let entry = Entry {
            seconds: sys::wall_clock_seconds(),
            body,
            dropped: 0,
        };
        self.compose_entry(severity, &entry, datagram)
    }

    /// Writes the header, stamped with the entry's own time, the body and ` dropped=N`
    /// when lines were lost before it.
    fn compose_entry(&self, severity: Severity, entry: &Entry<'_>, datagram: &mut [u8]) -> usize {
        let priority = self.facility as u8 | severity as u8;
        let mut cursor = io::Cursor::new(datagram);
        let _ = write!(cursor, "<{priority}>");
        if let Some(tm) = sys::local_time(entry.seconds) {
            let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
            let _ = write!(
                cursor,
                "{month} {:2} {:02}:{:02}:{:02} ",
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
            );
        }
        let _ = write!(cursor, "{}[{}]: {}", self.ident, self.pid, entry.body);
        if entry.dropped != 0 {
            let _ = write!(cursor, " dropped={}", entry.dropped);
        }
        cursor.position() as usize
    }
}

impl LogFormat<&str> for Header {
    fn format<W: Write>(&self, w: &mut W, severity: Severity, body: &str) -> syslog::Result<()> {
        let mut datagram = [0u8; DATAGRAM_CAPACITY];
        let len = self.compose(severity, body, &mut datagram);
        // One write: LoggerBackend sends each write as one datagram.
        w.write(&datagram[..len])
            .map(|_| ())
            .map_err(syslog::Error::Write)
    }
}

/// One line on its way: the body, when it happened, and how many lines were dropped
/// before it.
pub struct Entry<'a> {
    pub seconds: libc::time_t,
    pub body: &'a str,
    pub dropped: u64,
}

/// How a line is put on the wire.
#[derive(Clone)]
pub enum Protocol {
    /// RFC 3164 to a syslog socket.
    Syslog(Header),
    /// journald's native protocol; the header gives ident, facility and pid.
    Journal(Header),
}

impl LogFormat<&Entry<'_>> for Protocol {
    fn format<W: Write>(
        &self,
        w: &mut W,
        severity: Severity,
        entry: &Entry<'_>,
    ) -> syslog::Result<()> {
        let mut buffer = [0u8; journal::ENTRY_CAPACITY];
        let len = match self {
            Protocol::Syslog(header) => header.compose_entry(severity, entry, &mut buffer),
            Protocol::Journal(header) => {
                let origin = journal::Origin {
                    ident: &header.ident,
                    facility: header.facility as u8 >> 3,
                    pid: header.pid,
                };
                journal::compose(&origin, severity, entry.body, entry.dropped, &mut buffer)
            }
        };
        // One write: LoggerBackend sends each write as one datagram, or one NUL-ended
        // frame on a stream.
        w.write(&buffer[..len])
            .map(|_| ())
            .map_err(syslog::Error::Write)
    }
}

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

/// A line waiting in the queue.
struct Queued {
    seconds: libc::time_t,
    severity: Severity,
    len: usize,
    body: [u8; LINE_CAPACITY],
}

impl Queued {
    fn body(&self) -> &str {
        std::str::from_utf8(&self.body[..self.len]).unwrap_or("event=invalid")
    }
}

/// A socket destination and everything that keeps its lines alive across outages.
pub struct Socket {
    logger: Logger<Connection, Protocol>,
    /// None: the syslog crate's default sockets, in order.
    path: Option<String>,
    journal: bool,
    /// Oldest first; never grows past `limit`.
    queue: VecDeque<Queued>,
    /// `QUEUE_LINES`, or the number of triggers when that is larger.
    limit: usize,
    /// Lines dropped from the queue since the last delivered one.
    dropped: u64,
    /// The front line's stream frame is partly sent and the rest waits in the writer;
    /// the number is the `dropped=` count that frame carries.
    in_flight: Option<u64>,
    retry_at_us: u64,
    backoff_us: u64,
    /// Whether this outage was reported on stderr, and the counts for its end.
    outage: Outage,
}

#[derive(Default)]
struct Outage {
    reported: bool,
    dropped: u64,
}

/// The destination of event lines.
pub enum Sink {
    Socket(Box<Socket>),
    Stderr,
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

impl Sink {
    /// A syslog sink on `path` (or the crate's default sockets). A socket that cannot be
    /// reached now is retried later; the error says why it failed this time, and the
    /// caller reports it (the sink will not report this outage again).
    pub fn syslog(header: Header, path: Option<String>) -> (Sink, Option<io::Error>) {
        Sink::open(Protocol::Syslog(header), path, false)
    }

    /// A journald sink on `path` (default `journal::JOURNAL_SOCKET`).
    pub fn journal(header: Header, path: Option<String>) -> (Sink, Option<io::Error>) {
        let path = path.unwrap_or_else(|| journal::JOURNAL_SOCKET.to_string());
        Sink::open(Protocol::Journal(header), Some(path), true)
    }

    fn open(protocol: Protocol, path: Option<String>, journal: bool) -> (Sink, Option<io::Error>) {
        let (backend, error) = match connect(path.as_deref(), journal) {
            Ok(backend) => (Some(backend), None),
            Err(e) => (None, Some(e)),
        };
        let socket = Socket {
            logger: Logger::new(Connection(backend), protocol),
            path,
            journal,
            queue: VecDeque::with_capacity(QUEUE_LINES),
            limit: QUEUE_LINES,
            dropped: 0,
            in_flight: None,
            retry_at_us: 0,
            backoff_us: RETRY_FIRST_US,
            outage: Outage {
                reported: error.is_some(),
                dropped: 0,
            },
        };
        (Sink::Socket(Box::new(socket)), error)
    }

    /// Lets the queue hold one line per trigger when there are more than `QUEUE_LINES`.
    /// The room is reserved, not touched: memory is used only while lines wait.
    pub fn fit_queue(&mut self, triggers: usize) {
        if let Sink::Socket(socket) = self {
            socket.limit = triggers.max(QUEUE_LINES);
            let room = socket.limit.saturating_sub(socket.queue.len());
            socket.queue.reserve(room);
        }
    }

    /// The text to print once when the socket cannot be reached at start.
    pub fn unreachable_note(&self, error: &io::Error) -> String {
        let limit = match self {
            Sink::Socket(socket) => socket.limit,
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
            Sink::Stderr => write_stderr(line.as_str()),
            Sink::Socket(socket) => socket.emit(severity, line.as_str()),
        }
    }

    /// Sends one line and everything queued before it now; Err when something is still
    /// queued (it stays queued). On stderr writes it there.
    pub fn deliver(&mut self, severity: Severity, line: &Line) -> io::Result<()> {
        match self {
            Sink::Stderr => {
                write_stderr(line.as_str());
                Ok(())
            }
            Sink::Socket(socket) => {
                socket.emit(severity, line.as_str());
                if socket.queue.is_empty() {
                    return Ok(());
                }
                socket.flush(sys::monotonic_us());
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
            Sink::Socket(socket) if !socket.queue.is_empty() => Some(socket.retry_at_us),
            _ => None,
        }
    }

    /// Retries delivery of queued lines if their deadline has come.
    pub fn retry(&mut self, now_us: u64) {
        if let Sink::Socket(socket) = self
            && !socket.queue.is_empty()
            && now_us >= socket.retry_at_us
        {
            socket.flush(now_us);
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

/// At exit, one last try; what still cannot be delivered goes to stderr, so no line
/// disappears without a trace.
impl Drop for Sink {
    fn drop(&mut self) {
        let Sink::Socket(socket) = self else {
            return;
        };
        if socket.queue.is_empty() {
            return;
        }
        socket.flush(sys::monotonic_us());
        for queued in &socket.queue {
            write_stderr(&format!(
                "psi-syslogd: exiting before {} could take this line: {}",
                socket.destination(),
                queued.body()
            ));
        }
        if socket.dropped != 0 {
            write_stderr(&format!(
                "psi-syslogd: {} more lines were dropped while {} was unreachable",
                socket.dropped,
                socket.destination()
            ));
        }
    }
}

impl Socket {
    fn destination(&self) -> &str {
        self.path.as_deref().unwrap_or(DEFAULT_SOCKETS[0])
    }

    fn emit(&mut self, severity: Severity, body: &str) {
        let seconds = sys::wall_clock_seconds();
        if self.queue.is_empty() {
            let entry = Entry {
                seconds,
                body,
                dropped: self.dropped,
            };
            match self.send_fresh(severity, &entry) {
                Ok(()) => {}
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
            Ok(()) => {
                self.dropped = 0;
                Ok(())
            }
            Err(Failure::Lost) => {
                self.reconnect().map_err(|()| Failure::Lost)?;
                self.send(severity, entry)?;
                self.dropped = 0;
                Ok(())
            }
            Err(other) => Err(other),
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
            write_stderr(&format!(
                "psi-syslogd: cannot send to {} ({error}); keeping up to {} lines and \
                 retrying until it takes them",
                self.destination(),
                self.limit
            ));
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

    /// Copies the line into the queue; a full queue loses its oldest line.
    fn enqueue(&mut self, seconds: libc::time_t, severity: Severity, body: &str) {
        if self.queue.len() >= self.limit {
            // The front may be half sent on a stream; dropping it there would garble the
            // frame, so the next one goes instead.
            let victim = if self.in_flight.is_some() { 1 } else { 0 };
            self.queue.remove(victim);
            self.dropped += 1;
            self.outage.dropped += 1;
            if !self.outage.reported {
                self.outage.reported = true;
                write_stderr(&format!(
                    "psi-syslogd: {} takes lines slower than they come; the queue of \
                     {} lines is full and its oldest lines are dropped",
                    self.destination(),
                    self.limit
                ));
            }
        }
        let len = body.len().min(LINE_CAPACITY);
        let mut queued = Queued {
            seconds,
            severity,
            len,
            body: [0; LINE_CAPACITY],
        };
        queued.body[..len].copy_from_slice(&body.as_bytes()[..len]);
        self.queue.push_back(queued);
    }

    /// The next retry, one back-off step later than the last.
    fn schedule(&mut self, now_us: u64) {
        self.retry_at_us = now_us.saturating_add(self.backoff_us);
        self.backoff_us = (self.backoff_us * 2).min(RETRY_MAX_US);
    }

    fn refused(&self, body: &str) {
        write_stderr(&format!(
            "psi-syslogd: {} refused a line as too long; the line was: {body}",
            self.destination()
        ));
    }

    /// Sends queued lines, oldest first, until the queue is empty or a send fails.
    fn flush(&mut self, now_us: u64) {
        if self.logger.backend.0.is_none() && self.reconnect().is_err() {
            self.schedule(now_us);
            return;
        }
        // One fresh connection per attempt: a receiver that accepts connections but
        // fails every send waits for the back-off like one that is away.
        let mut reconnected = false;
        while let Some(front) = self.queue.front() {
            // The `dropped=` count the frame being sent carries.
            let carried;
            let outcome = if let Some(count) = self.in_flight {
                carried = count;
                match self.logger.backend.flush() {
                    Ok(()) => Ok(()),
                    Err(e) => Err(self.failed(&e)),
                }
            } else {
                carried = self.dropped;
                let entry = Entry {
                    seconds: front.seconds,
                    body: front.body(),
                    dropped: carried,
                };
                // Not `send`: it needs the whole socket, and the entry borrows the queue.
                let result =
                    self.logger
                        .formatter
                        .format(&mut self.logger.backend, front.severity, &entry);
                match result {
                    Ok(()) => Ok(()),
                    Err(syslog::Error::Write(e) | syslog::Error::Io(e)) => Err(self.failed(&e)),
                    Err(e) => Err(self.failed(&io::Error::other(e.to_string()))),
                }
            };
            match outcome {
                Ok(()) => {
                    self.queue.pop_front();
                    self.dropped -= carried.min(self.dropped);
                    self.in_flight = None;
                    self.backoff_us = RETRY_FIRST_US;
                }
                Err(Failure::Refused) => {
                    if let Some(lost) = self.queue.pop_front() {
                        self.refused(lost.body());
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
            write_stderr(&format!(
                "psi-syslogd: {} takes lines again; the queue is delivered ({dropped} lines \
                 were dropped)",
                self.destination()
            ));
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

/// One `write` of `text` and a newline to stderr.
pub fn write_stderr(text: &str) {
    let mut buffer = [0u8; DATAGRAM_CAPACITY + 1];
    let bytes = text.as_bytes();
    let len = bytes.len().min(DATAGRAM_CAPACITY);
    buffer[..len].copy_from_slice(&bytes[..len]);
    buffer[len] = b'\n';
    if bytes.len() <= DATAGRAM_CAPACITY {
        let _ = io::stderr().write_all(&buffer[..=len]);
    } else {
        let _ = io::stderr().write_all(bytes);
        let _ = io::stderr().write_all(b"\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{self, CGROUP_VALUE_MAX, CUT_MARK, Line};
    use crate::pressure::{Hundredths, Reading};
    use crate::trigger::Spec;

    fn header() -> Header {
        Header {
            facility: Facility::LOG_DAEMON,
            ident: "psi-syslogd".into(),
            pid: 42,
        }
    }

    #[test]
    fn header_carries_priority_local_time_ident_and_pid() {
        let mut datagram = [0u8; DATAGRAM_CAPACITY];
        let len = header().compose(Severity::LOG_WARNING, "event=x", &mut datagram);
        let text = std::str::from_utf8(&datagram[..len]).unwrap();
        // daemon (3) * 8 + warning (4) = 28
        assert!(text.starts_with("<28>"), "{text}");
        assert!(text.ends_with(" psi-syslogd[42]: event=x"), "{text}");
        // <28>Nov 22 03:20:34 psi-syslogd[42]: ...
        let stamp = &text[4..19];
        assert!(MONTHS.contains(&&stamp[..3]), "{text}");
        assert_eq!(&stamp[9..10], ":", "{text}");
    }

    /// The budget: an ordinary trigger line, header and all, within 240 bytes
    /// (BusyBox syslogd reads 256). Measured with the largest values the kernel allows
    /// (10 s thresholds and windows, 100% averages), a day-long episode with 99999
    /// crossings, Linux's largest pid (4194304), the default ident and the longest
    /// cgroup value.
    #[test]
    fn the_longest_ordinary_trigger_lines_fit_in_240_bytes() {
        let header = Header {
            pid: 4_194_304,
            ..header()
        };
        let mut spec = Spec::parse("memory:some:10000000:10000000").unwrap();
        spec.cgroup = Some("/very-long-name.slice".repeat(10));
        let full = Reading {
            avg10: Hundredths(10_000),
            avg60: Hundredths(10_000),
            avg300: Hundredths(10_000),
            total_us: u64::MAX,
        };
        let day_us = 86_400_000_000;
        let lines = [
            message::pressure(&spec, &full, 10_000_000),
            message::ongoing(&spec, &full, day_us, 99_999),
            message::recovered(&spec, day_us, 99_999, Hundredths(10_000)),
            message::lost(&spec, "the kernel reported an error on the trigger"),
            message::rearmed(&spec),
        ];
        for line in &lines {
            let entry = Entry {
                seconds: 0,
                body: line.as_str(),
                dropped: 0,
            };
            let mut datagram = [0u8; DATAGRAM_CAPACITY];
            let len = header.compose_entry(Severity::LOG_WARNING, &entry, &mut datagram);
            let text = std::str::from_utf8(&datagram[..len]).unwrap();
            eprintln!("{len} bytes: {text}");
            assert!(len <= 240, "{len} bytes: {text}");
            let cgroup = text.rsplit_once(" cgroup=").unwrap().1;
            assert_eq!(cgroup.len(), CGROUP_VALUE_MAX, "{text}");
            assert!(
                cgroup.starts_with(CUT_MARK) && cgroup.ends_with("name.slice"),
                "{text}"
            );
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
        assert!(socket.in_flight.is_some(), "a frame went out in part");
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
    fn a_dropped_count_goes_at_the_end_of_the_datagram() {
        let entry = Entry {
            seconds: 0,
            body: "event=x",
            dropped: 3,
        };
        let mut datagram = [0u8; DATAGRAM_CAPACITY];
        let len = header().compose_entry(Severity::LOG_INFO, &entry, &mut datagram);
        let text = std::str::from_utf8(&datagram[..len]).unwrap();
        assert!(text.ends_with("]: event=x dropped=3"), "{text}");
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
