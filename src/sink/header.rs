//! How a line is put on the wire: the RFC 3164 header (`<PRI>Mmm dd hh:mm:ss
//! IDENT[PID]: `), or journald's native fields, around the logfmt body.

use std::io::{self, Write};

use syslog::{Facility, LogFormat, Severity};

use super::journal;
use crate::sys;

/// RFC 3164's limit for a whole message.
pub const DATAGRAM_CAPACITY: usize = 1024;

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

/// One line on its way: the body, when it happened (wall clock seconds: the header
/// carries the time of the event, not of its delivery), and how many lines were dropped
/// before it.
pub struct Entry<'a> {
    pub seconds: i64,
    pub body: &'a str,
    pub dropped: u64,
}

impl Header {
    /// Writes the header, stamped with the entry's own time, the body and ` dropped=N`
    /// when lines were lost before it.
    pub fn compose_entry(
        &self,
        severity: Severity,
        entry: &Entry<'_>,
        datagram: &mut [u8],
    ) -> usize {
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

/// The protocol of a socket destination.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            facility: Facility::LOG_DAEMON,
            ident: "psi-syslogd".into(),
            pid: 42,
        }
    }

    #[test]
    fn header_carries_priority_local_time_ident_and_pid() {
        let entry = Entry {
            seconds: sys::wall_clock_seconds(),
            body: "event=x",
            dropped: 0,
        };
        let mut datagram = [0u8; DATAGRAM_CAPACITY];
        let len = header().compose_entry(Severity::LOG_WARNING, &entry, &mut datagram);
        let text = std::str::from_utf8(&datagram[..len]).unwrap();
        // daemon (3) * 8 + warning (4) = 28
        assert!(text.starts_with("<28>"), "{text}");
        assert!(text.ends_with(" psi-syslogd[42]: event=x"), "{text}");
        // <28>Nov 22 03:20:34 psi-syslogd[42]: ...
        let stamp = &text[4..19];
        assert!(MONTHS.contains(&&stamp[..3]), "{text}");
        assert_eq!(&stamp[9..10], ":", "{text}");
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
}
