//! A pressure file: which resource it reports on, its two lines (`some`, `full`), how
//! one is read (`some avg10=0.55 avg60=3.09 avg300=1.20 total=4597382`), and deciding
//! from two readings whether a trigger's notification was a real crossing.

/// What a pressure file reports on: /proc/pressure/RESOURCE, or RESOURCE.pressure in a
/// cgroup v2 group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    Cpu,
    Memory,
    Io,
    Irq,
}

impl Resource {
    pub const ALL: [Resource; 4] = [Resource::Cpu, Resource::Memory, Resource::Io, Resource::Irq];

    pub fn name(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Memory => "memory",
            Resource::Io => "io",
            Resource::Irq => "irq",
        }
    }

    pub fn parse(text: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.name() == text)
    }
}

/// Which line of a pressure file: some tasks stalled, or all non-idle tasks stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stall {
    Some,
    Full,
}

impl Stall {
    pub fn name(self) -> &'static str {
        match self {
            Stall::Some => "some",
            Stall::Full => "full",
        }
    }

    pub fn parse(text: &str) -> Option<Stall> {
        match text {
            "some" => Some(Stall::Some),
            "full" => Some(Stall::Full),
            _ => None,
        }
    }
}

/// One line of a pressure file. Averages are kept in hundredths of a percent, exactly
/// as the kernel prints them (`%lu.%02lu`), so nothing is lost to floating point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    pub avg10: Hundredths,
    pub avg60: Hundredths,
    pub avg300: Hundredths,
    /// Cumulative stall time in microseconds since boot (or since the cgroup was made).
    pub total_us: u64,
}

/// A percentage with two decimals, as the kernel prints averages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hundredths(pub u32);

impl std::fmt::Display for Hundredths {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// Finds the `stall` line in the text of a pressure file and parses it. `None` when the
/// line is missing or not in the kernel's format.
pub fn parse(text: &[u8], stall: Stall) -> Option<Reading> {
    let prefix = stall.name().as_bytes();
    let line = text
        .split(|&b| b == b'\n')
        .find(|line| line.starts_with(prefix) && line.get(prefix.len()) == Some(&b' '))?;
    let mut reading = Reading::default();
    let mut seen = 0u8;
    for field in line[prefix.len() + 1..].split(|&b| b == b' ') {
        let eq = field.iter().position(|&b| b == b'=')?;
        let (key, value) = (&field[..eq], &field[eq + 1..]);
        match key {
            b"avg10" => (reading.avg10, seen) = (parse_hundredths(value)?, seen | 1),
            b"avg60" => (reading.avg60, seen) = (parse_hundredths(value)?, seen | 2),
            b"avg300" => (reading.avg300, seen) = (parse_hundredths(value)?, seen | 4),
            b"total" => (reading.total_us, seen) = (parse_u64(value)?, seen | 8),
            _ => {} // a key a later kernel may add
        }
    }
    (seen == 15).then_some(reading)
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |value, &b| {
        b.is_ascii_digit().then(|| value * 10 + u64::from(b - b'0'))
    })
}

fn parse_hundredths(text: &[u8]) -> Option<Hundredths> {
    let dot = text.iter().position(|&b| b == b'.')?;
    let (whole, fraction) = (&text[..dot], &text[dot + 1..]);
    if fraction.len() != 2 || whole.len() > 7 {
        return None;
    }
    let value = parse_u64(whole)? * 100 + parse_u64(fraction)?;
    Some(Hundredths(value as u32))
}

/// Whether a notification is a real crossing: the stall time counted since the previous
/// reading of this trigger must be at least the threshold. The kernel seeds an
/// unprivileged trigger from one set of counters and evaluates it against another, so
/// the first notifications after arming can come while `total=` has hardly moved (seen:
/// 0 and 3 ms of growth against a 100 ms threshold, ../shared/NOTES.md).
pub fn is_real_crossing(previous_total_us: u64, current_total_us: u64, threshold_us: u32) -> bool {
    current_total_us.saturating_sub(previous_total_us) >= u64::from(threshold_us)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"some avg10=12.34 avg60=3.10 avg300=0.80 total=4597382\n\
                          full avg10=0.00 avg60=100.00 avg300=0.05 total=17\n";

    #[test]
    fn parses_both_lines() {
        let some = parse(FILE, Stall::Some).unwrap();
        assert_eq!(some.avg10, Hundredths(1234));
        assert_eq!(some.avg60, Hundredths(310));
        assert_eq!(some.avg300, Hundredths(80));
        assert_eq!(some.total_us, 4_597_382);
        let full = parse(FILE, Stall::Full).unwrap();
        assert_eq!(full.avg60, Hundredths(10000));
        assert_eq!(full.total_us, 17);
        assert_eq!(full.avg60.to_string(), "100.00");
        assert_eq!(some.avg300.to_string(), "0.80");
    }

    #[test]
    fn missing_or_malformed_lines_are_none() {
        let cpu_without_full = b"some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n";
        assert_eq!(parse(cpu_without_full, Stall::Full), None);
        assert_eq!(parse(b"", Stall::Some), None);
        assert_eq!(
            parse(b"some avg10=0.00 avg60=0.00 total=1\n", Stall::Some),
            None
        );
        assert_eq!(
            parse(
                b"some avg10=x.00 avg60=0.00 avg300=0.00 total=1",
                Stall::Some
            ),
            None
        );
        assert_eq!(
            parse(
                b"some avg10=1.0 avg60=0.00 avg300=0.00 total=1",
                Stall::Some
            ),
            None
        );
        assert_eq!(
            parse(
                b"some avg10=0.00 avg60=0.00 avg300=0.00 total=",
                Stall::Some
            ),
            None
        );
        assert_eq!(parse(b"somewhat avg10=0.00", Stall::Some), None);
    }

    #[test]
    fn unknown_keys_are_ignored() {
        let text = b"some avg10=1.00 avg60=2.00 avg300=3.00 total=4 avg1=9.00\n";
        assert_eq!(parse(text, Stall::Some).unwrap().total_us, 4);
    }

    #[test]
    fn a_crossing_is_real_only_when_total_grew_by_the_threshold() {
        // The spurious notifications seen on an idle machine: 0 and 3 ms against 100 ms.
        assert!(!is_real_crossing(1_000, 1_000, 100_000));
        assert!(!is_real_crossing(1_000, 4_000, 100_000));
        assert!(is_real_crossing(1_000, 101_000, 100_000));
        assert!(is_real_crossing(1_000, 900_000, 100_000));
        // A counter that went backwards (a re-created cgroup) is not a crossing.
        assert!(!is_real_crossing(900_000, 1_000, 100_000));
    }
}
