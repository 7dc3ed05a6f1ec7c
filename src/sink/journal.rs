//! journald's native protocol: one datagram of `KEY=VALUE` lines per event, so that
//! `journalctl PSI_RESOURCE=memory` finds events without parsing text.
//!
//! The fields are the event's logfmt line read back (logfmt.rs decodes it): `key=value` becomes `PSI_KEY=value`
//! with the escapes undone. A value holding a newline (a hostile cgroup name) goes in the
//! protocol's length-prefixed form, so it can never start a field of its own.
//! systemd.io/JOURNAL_NATIVE_PROTOCOL describes the format.

use std::io::{self, Write};

use syslog::Severity;

use crate::logfmt::{LINE_CAPACITY, pairs, unescape};

/// Where journald listens for native messages.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Room for one entry: the line as `MESSAGE`, its fields again as `PSI_*` (at most the
/// line's length plus a few bytes per key), and the fixed fields.
pub const ENTRY_CAPACITY: usize = 4096;

/// The `MESSAGE_ID` of each event type: fixed forever, so that journal catalogs and
/// queries can name an event without matching text. Listed in the man page.
pub const MESSAGE_IDS: [(&str, &str); 17] = [
    ("start", "e87fd34ddfbb402b9b08ad6f5787dd5f"),
    ("stop", "06b14f3b5ada4b9591d5f261c61d448d"),
    ("error", "d96a2d6946f14884b3098d50f2ac971d"),
    ("pressure", "71a5abde06ea4d8bb0ad4d7cb995c850"),
    ("ongoing", "ac5de80f01134f198938aab5671ff6e2"),
    ("recovered", "534321423d1246e7bf6eb150749a2532"),
    ("lost", "296a179f8cd546e28820ec2ff125a316"),
    ("rearmed", "8de1577021c04332a3c2d789bc18f014"),
    ("reload", "2d5e3fc4c10f4c4eb4258df2ade8bbcc"),
    ("reload_failed", "56bc40007814421abfb8e1867bb3311d"),
    ("status", "e4553dfb382048b598bc17aed064de20"),
    ("heartbeat", "41c94fad5b7945b6bd633ae5c05571fb"),
    ("waiting", "e5c897a45d68433fbd6866f9b1aaecc6"),
    ("armed", "3d8e6b91ab394ea9929d37f7bedb1183"),
    ("removed", "941ab90b48a04bd98e8658898cfd049b"),
    ("unarmed", "65a0ec8b41ea4814a0e253da88e09629"),
    ("warning", "3d4d1b5c0c83415fa16491f2fb67ef5c"),
];
/// For an event type this table does not know yet.
pub const OTHER_MESSAGE_ID: &str = "37f27805402d466f87bd97f0fdc57b5d";

/// The `MESSAGE_ID` of an event named `event`.
pub fn message_id(event: &str) -> &'static str {
    MESSAGE_IDS
        .iter()
        .find(|(name, _)| *name == event)
        .map_or(OTHER_MESSAGE_ID, |(_, id)| id)
}

/// Who sends: the fixed fields of every entry.
pub struct Origin<'a> {
    pub ident: &'a str,
    /// The syslog facility number (LOG_DAEMON is 3).
    pub facility: u8,
    pub pid: u32,
}

/// Writes the entry for the logfmt line `body` into `out`; returns its length. `dropped`,
/// when not 0, is appended to the message and given as `PSI_DROPPED`. A line whose
/// fields do not fit (it cannot happen within `ENTRY_CAPACITY`) goes without them.
pub fn compose(
    origin: &Origin<'_>,
    severity: Severity,
    body: &str,
    dropped: u64,
    out: &mut [u8],
) -> usize {
    match compose_all(origin, severity, body, dropped, true, out) {
        Ok(len) => len,
        Err(_) => compose_all(origin, severity, body, dropped, false, out).unwrap_or(0),
    }
}

fn compose_all(
    origin: &Origin<'_>,
    severity: Severity,
    body: &str,
    dropped: u64,
    with_fields: bool,
    out: &mut [u8],
) -> io::Result<usize> {
    let mut cursor = io::Cursor::new(out);
    if dropped == 0 {
        writeln!(cursor, "MESSAGE={body}")?;
    } else {
        writeln!(cursor, "MESSAGE={body} dropped={dropped}")?;
    }
    let event = pairs(body)
        .next()
        .filter(|(key, _)| *key == "event")
        .map_or("", |(_, value)| value);
    write!(
        cursor,
        "MESSAGE_ID={}\nPRIORITY={}\nSYSLOG_FACILITY={}\nSYSLOG_IDENTIFIER={}\nSYSLOG_PID={}\n",
        message_id(event),
        severity as u8,
        origin.facility,
        origin.ident,
        origin.pid
    )?;
    if with_fields {
        for (key, raw) in pairs(body) {
            if !is_field_key(key) {
                continue;
            }
            let mut value = [0u8; LINE_CAPACITY];
            let len = unescape(raw, &mut value);
            field(&mut cursor, key, &value[..len])?;
        }
        if dropped != 0 {
            writeln!(cursor, "PSI_DROPPED={dropped}")?;
        }
    }
    Ok(cursor.position() as usize)
}

/// `PSI_KEY=value\n`, or the length-prefixed form when the value holds a newline.
fn field(out: &mut impl Write, key: &str, value: &[u8]) -> io::Result<()> {
    out.write_all(b"PSI_")?;
    for byte in key.bytes() {
        out.write_all(&[byte.to_ascii_uppercase()])?;
    }
    if value.contains(&b'\n') {
        out.write_all(b"\n")?;
        out.write_all(&(value.len() as u64).to_le_bytes())?;
    } else {
        out.write_all(b"=")?;
    }
    out.write_all(value)?;
    out.write_all(b"\n")
}

/// journald accepts field names of A-Z, 0-9 and `_`, not starting with `_`, at most 64
/// long; ours become `PSI_` and the upper-cased key.
fn is_field_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 60
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logfmt::Line;

    #[test]
    fn message_ids_are_distinct_128_bit_hex() {
        let mut ids: Vec<&str> = MESSAGE_IDS.iter().map(|(_, id)| *id).collect();
        ids.push(OTHER_MESSAGE_ID);
        for id in &ids {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            );
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count);
    }

    #[test]
    fn an_entry_carries_the_message_the_fixed_fields_and_psi_fields() {
        let mut line = Line::event("pressure");
        line.field("resource", "cpu")
            .field("avg10", "12.50")
            .cgroup_path("/evil\nevent=x \"q\"");
        let origin = Origin {
            ident: "psi-syslogd",
            facility: 3,
            pid: 7,
        };
        let mut out = [0u8; ENTRY_CAPACITY];
        let len = compose(&origin, Severity::LOG_WARNING, line.as_str(), 2, &mut out);
        let mut expected = format!(
            "MESSAGE={} dropped=2\nMESSAGE_ID=71a5abde06ea4d8bb0ad4d7cb995c850\nPRIORITY=4\n\
             SYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=psi-syslogd\nSYSLOG_PID=7\n\
             PSI_EVENT=pressure\nPSI_RESOURCE=cpu\nPSI_AVG10=12.50\nPSI_CGROUP\n",
            line.as_str()
        )
        .into_bytes();
        let cgroup = b"/evil\nevent=x \"q\"";
        expected.extend_from_slice(&(cgroup.len() as u64).to_le_bytes());
        expected.extend_from_slice(cgroup);
        expected.extend_from_slice(b"\nPSI_DROPPED=2\n");
        assert_eq!(
            String::from_utf8_lossy(&out[..len]),
            String::from_utf8_lossy(&expected)
        );
    }
}
