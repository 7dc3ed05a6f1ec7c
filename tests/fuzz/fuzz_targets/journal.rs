//! The wire formats around a line: journald's native fields (journal::compose) and the
//! RFC 3164 header (Header::compose_entry).
//!
//! journald: the entry is nothing but `KEY=VALUE\n` fields and the length-prefixed
//! binary form (`KEY\n`, a 64-bit little-endian length, the bytes, `\n`), with keys of
//! A-Z, 0-9 and `_` not starting with `_`; MESSAGE is the line (and ` dropped=N`), the
//! fixed fields follow, and the PSI_* fields are the line's keys and values read back
//! (escapes undone), in order, then PSI_DROPPED. Any other body (none reaches compose
//! but a line; still) gives well-formed fields as long as it has no newline, and never a
//! panic.
//!
//! RFC 3164: `<PRI>`, the local time, `IDENT[PID]: `, the line and ` dropped=N`, whole,
//! within the 1024-byte datagram.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use psi_syslogd::sink::journal::{self, ENTRY_CAPACITY, Origin};
use psi_syslogd::sink::{DATAGRAM_CAPACITY, Entry, Header};
use psi_syslogd::spec::Level;
use psi_syslogd::sys;
use psi_syslogd_fuzz::lines::{LineInput, check_line};
use psi_syslogd_fuzz::logfmt;
use syslog::Facility;

#[derive(Arbitrary, Debug)]
struct Input {
    line: LineInput,
    /// Any other body, instead of the line.
    other_body: Option<String>,
    ident: Vec<u8>,
    facility: u8,
    pid: u32,
    severity: u8,
    dropped: u64,
    seconds: i64,
}

const FACILITIES: [Facility; 20] = [
    Facility::LOG_KERN,
    Facility::LOG_USER,
    Facility::LOG_MAIL,
    Facility::LOG_DAEMON,
    Facility::LOG_AUTH,
    Facility::LOG_SYSLOG,
    Facility::LOG_LPR,
    Facility::LOG_NEWS,
    Facility::LOG_UUCP,
    Facility::LOG_CRON,
    Facility::LOG_AUTHPRIV,
    Facility::LOG_FTP,
    Facility::LOG_LOCAL0,
    Facility::LOG_LOCAL1,
    Facility::LOG_LOCAL2,
    Facility::LOG_LOCAL3,
    Facility::LOG_LOCAL4,
    Facility::LOG_LOCAL5,
    Facility::LOG_LOCAL6,
    Facility::LOG_LOCAL7,
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// An ident as config.rs admits it: 1 to 32 printable ASCII, no space, `:`, `[`, `]`.
fn ident(bytes: &[u8]) -> String {
    let allowed: Vec<u8> = (b'!'..=b'~')
        .filter(|b| !matches!(b, b':' | b'[' | b']'))
        .collect();
    let ident: String = bytes
        .iter()
        .take(32)
        .map(|&b| allowed[usize::from(b) % allowed.len()] as char)
        .collect();
    if ident.is_empty() {
        "psi-syslogd".into()
    } else {
        ident
    }
}

/// The fields of an entry, in order; panics on anything that is not one.
fn fields(mut entry: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut fields = Vec::new();
    while !entry.is_empty() {
        let end = entry
            .iter()
            .position(|&b| b == b'=' || b == b'\n')
            .unwrap_or_else(|| panic!("a field without '=' or newline: {entry:?}"));
        let key = std::str::from_utf8(&entry[..end]).unwrap_or_else(|_| panic!("key {entry:?}"));
        assert!(
            !key.is_empty()
                && key.len() <= 64
                && !key.starts_with('_')
                && key
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
            "not a journal field name: {key:?}"
        );
        let value;
        if entry[end] == b'=' {
            let rest = &entry[end + 1..];
            let stop = rest
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or_else(|| panic!("{key}= does not end in a newline"));
            value = rest[..stop].to_vec();
            entry = &rest[stop + 1..];
        } else {
            let rest = &entry[end + 1..];
            assert!(rest.len() >= 8, "{key}: no length");
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap_or_else(|_| unreachable!()));
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            assert!(
                rest.len() > 8 + len,
                "{key}: {len} bytes announced, fewer sent"
            );
            value = rest[8..8 + len].to_vec();
            assert_eq!(
                rest[8 + len],
                b'\n',
                "{key}: the binary value does not end in a newline"
            );
            entry = &rest[8 + len + 1..];
        }
        fields.push((key.to_string(), value));
    }
    fields
}

fuzz_target!(|input: Input| {
    let (line, want) = input.line.build();
    check_line(&line, &want);
    let severity = Level::ALL[usize::from(input.severity) % Level::ALL.len()].severity();
    let facility = FACILITIES[usize::from(input.facility) % FACILITIES.len()];
    let ident = ident(&input.ident);
    let origin = Origin {
        ident: &ident,
        facility: facility as u8 >> 3,
        pid: input.pid,
    };
    let mut out = [0u8; ENTRY_CAPACITY];

    if let Some(body) = &input.other_body {
        let len = journal::compose(&origin, severity, body, input.dropped, &mut out);
        assert!(len <= ENTRY_CAPACITY);
        if !body.contains('\n') {
            let fields = fields(&out[..len]);
            if len > 0 {
                assert_eq!(fields[0].0, "MESSAGE");
            }
        }
        return;
    }

    let body = line.as_str();
    let len = journal::compose(&origin, severity, body, input.dropped, &mut out);
    let fields = fields(&out[..len]);
    let message = if input.dropped == 0 {
        body.to_string()
    } else {
        format!("{body} dropped={}", input.dropped)
    };
    let event = want[0].0.clone();
    assert_eq!(event, "event");
    let pairs = logfmt::read(body).unwrap_or_else(|why| panic!("{why}"));
    let event_name = pairs[0].value.clone().unwrap_or_default();
    let mut expected: Vec<(String, Vec<u8>)> = vec![
        ("MESSAGE".into(), message.into_bytes()),
        ("MESSAGE_ID".into(), journal::message_id(&event_name).into()),
        ("PRIORITY".into(), (severity as u8).to_string().into_bytes()),
        (
            "SYSLOG_FACILITY".into(),
            (facility as u8 >> 3).to_string().into_bytes(),
        ),
        ("SYSLOG_IDENTIFIER".into(), ident.clone().into_bytes()),
        ("SYSLOG_PID".into(), input.pid.to_string().into_bytes()),
    ];
    for pair in &pairs {
        expected.push((
            format!("PSI_{}", pair.key.to_ascii_uppercase()),
            pair.value.clone().unwrap_or_default().into_bytes(),
        ));
    }
    if input.dropped != 0 {
        expected.push(("PSI_DROPPED".into(), input.dropped.to_string().into_bytes()));
    }
    assert_eq!(fields, expected, "{body:?}");

    // RFC 3164.
    let header = Header {
        facility,
        ident: ident.clone(),
        pid: input.pid,
    };
    let entry = Entry {
        seconds: input.seconds,
        body,
        dropped: input.dropped,
    };
    let mut datagram = [0u8; DATAGRAM_CAPACITY];
    let len = header.compose_entry(severity, &entry, &mut datagram);
    let mut wanted = format!("<{}>", facility as u8 | severity as u8);
    if let Some(tm) = sys::local_time(input.seconds) {
        let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("Jan");
        wanted += &format!(
            "{month} {:2} {:02}:{:02}:{:02} ",
            tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
        );
    }
    wanted += &format!("{ident}[{}]: {body}", input.pid);
    if input.dropped != 0 {
        wanted += &format!(" dropped={}", input.dropped);
    }
    assert_eq!(
        String::from_utf8_lossy(&datagram[..len]),
        wanted,
        "the datagram was cut or is not what was asked"
    );
});
