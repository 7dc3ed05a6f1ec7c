//! Where event lines go: a syslog socket (RFC 3164 through the `syslog` crate) or stderr.

use std::io::{self, BufWriter, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::time::Duration;

use syslog::{Facility, LogFormat, Logger, LoggerBackend, Severity};

use crate::message::Line;
use crate::sys;

/// The sockets the `syslog` crate tries when none is named, in its order.
pub const DEFAULT_SOCKETS: [&str; 3] = ["/dev/log", "/var/run/syslog", "/var/run/log"];
/// How long a write to a stream socket may block before the line counts as not sent.
const STREAM_WRITE_TIMEOUT: Duration = Duration::from_secs(1);
/// RFC 3164's limit for a whole message.
const DATAGRAM_CAPACITY: usize = 1024;

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
    /// Writes the header and `body` into `datagram`; returns the length.
    pub fn compose(&self, severity: Severity, body: &str, datagram: &mut [u8]) -> usize {
        let priority = self.facility as u8 | severity as u8;
        let mut cursor = io::Cursor::new(datagram);
        let _ = write!(cursor, "<{priority}>");
        if let Some(tm) = sys::local_time(sys::wall_clock_seconds()) {
            let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
            let _ = write!(
                cursor,
                "{month} {:2} {:02}:{:02}:{:02} ",
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
            );
        }
        let _ = write!(cursor, "{}[{}]: {body}", self.ident, self.pid);
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

/// The destination of event lines.
pub enum Sink {
    Syslog {
        /// `None` while the socket cannot be reached.
        logger: Option<Logger<LoggerBackend, Header>>,
        header: Header,
        path: Option<String>,
    },
    Stderr,
}

impl Sink {
    /// A syslog sink on `path` (or the crate's default sockets). A socket that cannot be
    /// reached now is retried at each line; the error says why it failed this time.
    pub fn syslog(header: Header, path: Option<String>) -> (Sink, Option<io::Error>) {
        let (logger, error) = match connect(path.as_deref()) {
            Ok(backend) => (Some(Logger::new(backend, header.clone())), None),
            Err(e) => (None, Some(e)),
        };
        let sink = Sink::Syslog {
            logger,
            header,
            path,
        };
        (sink, error)
    }

    /// Sends one line. A line that cannot be delivered is written to stderr instead, so
    /// it is never lost without a trace.
    pub fn emit(&mut self, severity: Severity, line: &Line) {
        if let Err(e) = self.deliver(severity, line) {
            write_stderr(&format!(
                "psi-syslogd: cannot send to {} ({e}); the line was: {}",
                self.destination(),
                line.as_str()
            ));
        }
    }

    /// Sends one line to syslog, reconnecting once if the first try fails; on stderr
    /// writes it there.
    pub fn deliver(&mut self, severity: Severity, line: &Line) -> io::Result<()> {
        let Sink::Syslog {
            logger,
            header,
            path,
        } = self
        else {
            write_stderr(line.as_str());
            return Ok(());
        };
        if send(logger, severity, line).is_ok() {
            return Ok(());
        }
        // The receiver may have restarted: one fresh connection, one more try.
        *logger = Some(Logger::new(connect(path.as_deref())?, header.clone()));
        send(logger, severity, line)
    }

    /// The socket path, or "stderr".
    pub fn destination(&self) -> &str {
        match self {
            Sink::Syslog { path, .. } => path.as_deref().unwrap_or(DEFAULT_SOCKETS[0]),
            Sink::Stderr => "stderr",
        }
    }

    pub fn is_stderr(&self) -> bool {
        matches!(self, Sink::Stderr)
    }
}

fn send(
    logger: &mut Option<Logger<LoggerBackend, Header>>,
    severity: Severity,
    line: &Line,
) -> io::Result<()> {
    let Some(logger) = logger else {
        return Err(io::Error::from_raw_os_error(libc::ENOTCONN));
    };
    match logger
        .formatter
        .format(&mut logger.backend, severity, line.as_str())
    {
        Ok(()) => Ok(()),
        Err(syslog::Error::Write(e) | syslog::Error::Io(e)) => Err(e),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// Connects to `path`, or to the first of the default sockets that exists. A datagram
/// socket first; EPROTOTYPE means the receiver listens on a stream socket.
fn connect(path: Option<&str>) -> io::Result<LoggerBackend> {
    let Some(path) = path else {
        let mut last = io::Error::from(io::ErrorKind::NotFound);
        for candidate in DEFAULT_SOCKETS {
            match connect(Some(candidate)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => last = e,
                other => return other,
            }
        }
        return Err(last);
    };
    let socket = UnixDatagram::unbound()?;
    match socket.connect(path) {
        Ok(()) => {
            socket.set_nonblocking(true)?;
            Ok(LoggerBackend::Unix(socket))
        }
        Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
            let stream = UnixStream::connect(path)?;
            stream.set_write_timeout(Some(STREAM_WRITE_TIMEOUT))?;
            Ok(LoggerBackend::UnixStream(BufWriter::new(stream)))
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

    #[test]
    fn header_carries_priority_local_time_ident_and_pid() {
        let header = Header {
            facility: Facility::LOG_DAEMON,
            ident: "psi-syslogd".into(),
            pid: 42,
        };
        let mut datagram = [0u8; DATAGRAM_CAPACITY];
        let len = header.compose(Severity::LOG_WARNING, "event=x", &mut datagram);
        let text = std::str::from_utf8(&datagram[..len]).unwrap();
        // daemon (3) * 8 + warning (4) = 28
        assert!(text.starts_with("<28>"), "{text}");
        assert!(text.ends_with(" psi-syslogd[42]: event=x"), "{text}");
        // <28>Nov 22 03:20:34 psi-syslogd[42]: ...
        let stamp = &text[4..19];
        assert!(MONTHS.contains(&&stamp[..3]), "{text}");
        assert_eq!(&stamp[9..10], ":", "{text}");
    }
}
