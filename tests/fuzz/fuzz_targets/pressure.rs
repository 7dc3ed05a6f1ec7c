//! The pressure-file parser: any bytes, as if read from /proc/pressure/* or a cgroup's
//! *.pressure, for both lines; never a panic, and the same reading as a reference
//! written from the kernel's format (the first line that begins `some ` or `full `;
//! space-separated `key=value` fields; avg10, avg60, avg300 as `%lu.%02lu` with at most
//! 7 digits before the point; total as 1 to 19 digits; unknown keys ignored, the last
//! of a repeated key kept; all four needed). The input's first byte, when it is 0xfe,
//! asks for a file written from a reading instead, which must read back to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use psi_syslogd::pressure::{self, Hundredths, Reading, Stall};

fn reference(text: &[u8], stall: Stall) -> Option<Reading> {
    let prefix = format!("{} ", stall.name());
    let line = text
        .split(|&b| b == b'\n')
        .find(|line| line.starts_with(prefix.as_bytes()))?;
    let (mut avg10, mut avg60, mut avg300, mut total) = (None, None, None, None);
    for field in line[prefix.len()..].split(|&b| b == b' ') {
        let eq = field.iter().position(|&b| b == b'=')?;
        let (key, value) = (&field[..eq], &field[eq + 1..]);
        let value = std::str::from_utf8(value).ok();
        match key {
            b"avg10" => avg10 = Some(average(value?)?),
            b"avg60" => avg60 = Some(average(value?)?),
            b"avg300" => avg300 = Some(average(value?)?),
            b"total" => total = Some(counter(value?)?),
            _ => {}
        }
    }
    Some(Reading {
        avg10: avg10?,
        avg60: avg60?,
        avg300: avg300?,
        total_us: total?,
    })
}

fn counter(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn average(text: &str) -> Option<Hundredths> {
    let (whole, fraction) = text.split_once('.')?;
    if whole.len() > 7 || fraction.len() != 2 {
        return None;
    }
    Some(Hundredths(
        u32::try_from(counter(whole)? * 100 + counter(fraction)?).ok()?,
    ))
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    for (slot, b) in word.iter_mut().zip(bytes) {
        *slot = *b;
    }
    u32::from_le_bytes(word)
}

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&0xfe) && data.len() >= 25 {
        // A reading as the kernel prints it (averages below 10^7 percent).
        let reading = |at: usize| Reading {
            avg10: Hundredths(le_u32(&data[at..]) % 1_000_000_000),
            avg60: Hundredths(le_u32(&data[at + 4..]) % 1_000_000_000),
            avg300: Hundredths(le_u32(&data[at + 8..]) % 1_000_000_000),
            total_us: u64::from(le_u32(&data[at..])) << 20 | u64::from(le_u32(&data[at + 8..])),
        };
        let (some, full) = (reading(1), reading(13));
        let line = |kind: &str, r: &Reading| {
            format!(
                "{kind} avg10={} avg60={} avg300={} total={}\n",
                r.avg10, r.avg60, r.avg300, r.total_us
            )
        };
        let file = line("some", &some) + &line("full", &full);
        assert_eq!(
            pressure::parse(file.as_bytes(), Stall::Some),
            Some(some),
            "{file}"
        );
        assert_eq!(
            pressure::parse(file.as_bytes(), Stall::Full),
            Some(full),
            "{file}"
        );
        return;
    }
    for stall in [Stall::Some, Stall::Full] {
        assert_eq!(
            pressure::parse(data, stall),
            reference(data, stall),
            "{stall:?} in {:?}",
            String::from_utf8_lossy(data)
        );
    }
});
