//! Lines on stderr: `--stderr`, and every note about the log path and every error.
//!
//! Under systemd stderr is often a stream into the journal, and systemd names it in
//! `JOURNAL_STREAM` (`DEVICE:INODE` of that stream). Then every line begins with `<N>`,
//! its severity, as sd-daemon(3) describes, and the journal files each line at its own
//! priority instead of all at one.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::OnceLock;

use syslog::Severity;

use super::header::DATAGRAM_CAPACITY;
use crate::sys;

/// Writes `text` and a newline to stderr in one `write` (so lines from a crash or a
/// second writer never interleave within one), `<N>` first when stderr is the journal.
pub fn write(severity: Severity, text: &str) {
    let mut buffer = [0u8; DATAGRAM_CAPACITY + 8];
    let prefix_len = if is_journal_stream() {
        buffer[0] = b'<';
        buffer[1] = b'0' + severity as u8;
        buffer[2] = b'>';
        3
    } else {
        0
    };
    let bytes = text.as_bytes();
    if prefix_len + bytes.len() < buffer.len() {
        buffer[prefix_len..prefix_len + bytes.len()].copy_from_slice(bytes);
        buffer[prefix_len + bytes.len()] = b'\n';
        let _ = std::io::stderr().write_all(&buffer[..=prefix_len + bytes.len()]);
    } else {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(&buffer[..prefix_len]);
        let _ = stderr.write_all(bytes);
        let _ = stderr.write_all(b"\n");
    }
}

/// Whether stderr is the stream `JOURNAL_STREAM` names. Decided once: stderr is not
/// replaced while the daemon runs.
pub fn is_journal_stream() -> bool {
    static JOURNAL: OnceLock<bool> = OnceLock::new();
    *JOURNAL.get_or_init(|| {
        let Some(value) = std::env::var_os("JOURNAL_STREAM") else {
            return false;
        };
        let named = parse_journal_stream(&value.to_string_lossy());
        let actual = sys::device_and_inode(std::io::stderr().as_fd()).ok();
        named.is_some() && named == actual
    })
}

/// `DEVICE:INODE`, both decimal, as systemd formats them.
fn parse_journal_stream(value: &str) -> Option<(u64, u64)> {
    let (device, inode) = value.split_once(':')?;
    Some((device.parse().ok()?, inode.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_is_device_colon_inode() {
        assert_eq!(parse_journal_stream("8:1234"), Some((8, 1234)));
        assert_eq!(parse_journal_stream("0:0"), Some((0, 0)));
        for bad in ["", "8", "8:", ":1", "a:1", "8:1:2", "-1:2"] {
            assert_eq!(parse_journal_stream(bad), None, "{bad}");
        }
    }
}
