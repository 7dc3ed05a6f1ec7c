//! What the user asks for: a trigger spec, `RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP]
//! [severity=LEVEL] [name=NAME]`, parsed strictly into the kernel's units, and checked
//! against the kernel's rules before anything is armed.

use std::fmt;

use syslog::Severity;

use crate::error::{Error, Exit};
use crate::pattern::Pattern;
use crate::pressure::{Resource, Stall};

/// The kernel refuses windows longer than this (`WINDOW_MAX_US` in kernel/sched/psi.c).
pub const WINDOW_MAX_US: u32 = 10_000_000;
/// Without CAP_SYS_RESOURCE the window must be a multiple of the averaging period,
/// `PSI_FREQ` = 2 s (kernel commit d82caa273565, "sched/psi: Allow unprivileged polling
/// of N*2s period", Linux 6.5).
pub const UNPRIVILEGED_WINDOW_STEP_US: u32 = 2_000_000;
/// A trigger's `name=`: short enough that a line keeps its room for the cgroup.
pub const NAME_MAX: usize = 32;

/// A syslog severity, as `severity=` names it (RFC 5424's keywords, as syslog.conf(5)
/// and rsyslog spell them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
}

impl Level {
    pub const ALL: [Level; 8] = [
        Level::Emerg,
        Level::Alert,
        Level::Crit,
        Level::Err,
        Level::Warning,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Emerg => "emerg",
            Level::Alert => "alert",
            Level::Crit => "crit",
            Level::Err => "err",
            Level::Warning => "warning",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    pub fn parse(text: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.name() == text)
    }

    pub fn severity(self) -> Severity {
        match self {
            Level::Emerg => Severity::LOG_EMERG,
            Level::Alert => Severity::LOG_ALERT,
            Level::Crit => Severity::LOG_CRIT,
            Level::Err => Severity::LOG_ERR,
            Level::Warning => Severity::LOG_WARNING,
            Level::Notice => Severity::LOG_NOTICE,
            Level::Info => Severity::LOG_INFO,
            Level::Debug => Severity::LOG_DEBUG,
        }
    }
}

/// One trigger as the user asked for it, in the kernel's units.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spec {
    pub resource: Resource,
    pub stall: Stall,
    pub threshold_us: u32,
    pub window_us: u32,
    /// The cgroup v2 group, relative to the cgroup2 root (`/system.slice/x.service`) once
    /// the configuration is loaded: fixed, or a pattern (`/system.slice/*.service`).
    /// `None` is system-wide (/proc/pressure). Boxed: most specs have none, and a spec
    /// is kept twice per trigger spec (the configuration's and the set's).
    pub cgroup: Option<Box<Pattern>>,
    /// The severity of this trigger's `pressure` and `ongoing` lines.
    pub severity: Level,
    /// Added to every line of this trigger as `name=`.
    pub name: Option<String>,
}

impl fmt::Display for Spec {
    /// The canonical form, which `Spec::parse` reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            self.resource.name(),
            self.stall.name(),
            self.threshold_us,
            self.window_us
        )?;
        if let Some(cgroup) = &self.cgroup {
            write!(f, ":{cgroup}")?;
        }
        if self.severity != Level::Warning {
            write!(f, " severity={}", self.severity.name())?;
        }
        if let Some(name) = &self.name {
            write!(f, " name={name}")?;
        }
        Ok(())
    }
}

impl Spec {
    /// Parses `RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP] [severity=LEVEL] [name=NAME]`.
    /// Numbers are strict: a bare integer is microseconds, `us`/`ms`/`s` scale it, and the
    /// threshold may be `N%` of the window. Anything else, including `15O000`, is an
    /// error that quotes the text.
    pub fn parse(text: &str) -> Result<Spec, Error> {
        let bad = |why: String| {
            Error::new(
                Exit::Usage,
                format!(
                    "invalid trigger '{text}': {why}; expected \
                     RESOURCE:KIND:THRESHOLD:WINDOW[:CGROUP] [severity=LEVEL] [name=NAME], \
                     e.g. memory:some:150ms:2s"
                ),
            )
        };
        let (trigger, options) = split_options(text);
        let mut severity = Level::Warning;
        let mut name = None;
        let mut seen = Vec::new();
        for option in options {
            let (key, value) = option.split_once('=').unwrap_or((option, ""));
            if seen.contains(&key) {
                return Err(bad(format!("'{key}=' is given twice")));
            }
            seen.push(key);
            match key {
                "severity" => {
                    severity = Level::parse(value).ok_or_else(|| {
                        bad(format!(
                            "unknown severity '{value}' (use emerg, alert, crit, err, warning, \
                             notice, info or debug)"
                        ))
                    })?;
                }
                "name" => {
                    check_name(value).map_err(bad)?;
                    name = Some(value.to_string());
                }
                _ => {
                    return Err(bad(format!(
                        "unknown option '{option}' (use severity=LEVEL or name=NAME)"
                    )));
                }
            }
        }
        // The cgroup, last, may itself contain ':'.
        let fields: Vec<&str> = trigger.splitn(5, ':').collect();
        let (resource, stall, threshold, window, cgroup) = match fields[..] {
            [r, k, t, w] => (r, k, t, w, None),
            [r, k, t, w, c] => (r, k, t, w, Some(c)),
            _ => return Err(bad(format!("it has {} field(s), not 4 or 5", fields.len()))),
        };
        let resource = Resource::parse(resource).ok_or_else(|| {
            bad(format!(
                "unknown resource '{resource}' (use cpu, memory, io or irq)"
            ))
        })?;
        let stall = Stall::parse(stall)
            .ok_or_else(|| bad(format!("unknown kind '{stall}' (use some or full)")))?;
        if resource == Resource::Irq && stall == Stall::Some {
            return Err(bad("irq pressure has only a 'full' line".into()));
        }
        let window_us = parse_duration_us(window).map_err(|why| bad(format!("window {why}")))?;
        let threshold_us = match threshold.strip_suffix('%') {
            Some(percent) => parse_percent_of(percent, window_us)
                .map_err(|why| bad(format!("threshold '{threshold}' {why}")))?,
            None => parse_duration_us(threshold).map_err(|why| bad(format!("threshold {why}")))?,
        };
        if window_us == 0 {
            return Err(bad("the window must be longer than 0".into()));
        }
        if window_us > WINDOW_MAX_US {
            return Err(bad(format!(
                "the window {window_us}us is longer than the kernel's limit of 10s"
            )));
        }
        if threshold_us == 0 {
            return Err(bad("the threshold must be more than 0us".into()));
        }
        if threshold_us > window_us {
            return Err(bad(format!(
                "the threshold {threshold_us}us is longer than the window {window_us}us"
            )));
        }
        let cgroup = cgroup
            .map(|c| {
                let pattern = Pattern::parse(c).map_err(|why| bad(format!("cgroup '{c}' {why}")));
                pattern.map(Box::new)
            })
            .transpose()?;
        Ok(Spec {
            resource,
            stall,
            threshold_us,
            window_us,
            cgroup,
            severity,
            name,
        })
    }

    /// Whether `other` asks the kernel for the same trigger on the same groups, whatever
    /// its severity and name: a reload keeps such a trigger armed and its episode going.
    pub fn same_trigger(&self, other: &Spec) -> bool {
        self.resource == other.resource
            && self.stall == other.stall
            && self.threshold_us == other.threshold_us
            && self.window_us == other.window_us
            && self.cgroup == other.cgroup
    }

    /// Whether the cgroup holds wildcards: the trigger is armed on every group that matches.
    pub fn is_pattern(&self) -> bool {
        self.cgroup
            .as_ref()
            .is_some_and(|pattern| !pattern.is_fixed())
    }

    /// The string the kernel parses, with the trailing NUL it needs: /proc's psi_write
    /// overwrites the last byte written with NUL, so without it `some 500000 2000000`
    /// arrives as a 200 ms window (../shared/NOTES.md; the kernel's own example writes
    /// strlen + 1 bytes).
    pub fn kernel_command(&self) -> Vec<u8> {
        format!(
            "{} {} {}\0",
            self.stall.name(),
            self.threshold_us,
            self.window_us
        )
        .into_bytes()
    }
}

/// Splits the `key=value` options off a spec. Only the cgroup, the fifth field, may hold
/// white space (`/a b` is one path); so without a cgroup everything after the first
/// white space is options, and with one, the options are the last words that begin
/// with a lowercase key and `=`.
fn split_options(text: &str) -> (&str, Vec<&str>) {
    let head = text.split(char::is_whitespace).next().unwrap_or("");
    if head.split(':').count() <= 4 {
        let options = text[head.len()..].split_whitespace().collect();
        return (head, options);
    }
    let mut trigger = text;
    let mut options = Vec::new();
    while let Some((rest, last)) = trigger.rsplit_once(char::is_whitespace) {
        let is_option = last.split_once('=').is_some_and(|(key, _)| {
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        });
        if !is_option {
            break;
        }
        options.push(last);
        trigger = rest.trim_end();
    }
    options.reverse();
    (trigger, options)
}

/// `name=`: 1 to 32 characters of `[A-Za-z0-9_.-]`, so it never needs quoting.
fn check_name(name: &str) -> Result<(), String> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
    if name.is_empty() || name.len() > NAME_MAX || !name.bytes().all(allowed) {
        return Err(format!(
            "name '{name}' must be 1 to {NAME_MAX} characters of A-Z, a-z, 0-9, '_', '.' and '-'"
        ));
    }
    Ok(())
}

/// Parses a non-negative integer with an optional `us`, `ms` or `s` suffix into
/// microseconds. A bare integer is microseconds, as the kernel takes it.
pub fn parse_duration_us(text: &str) -> Result<u32, String> {
    const UNITS: [(&str, u64); 3] = [("us", 1), ("ms", 1_000), ("s", 1_000_000)];
    let us = parse_scaled(text, &UNITS, 1).ok_or_else(|| {
        format!("'{text}' is not a duration (an integer of microseconds, or with us, ms or s)")
    })?;
    u32::try_from(us).map_err(|_| format!("'{text}' is too large"))
}

/// An integer followed by one of `units` (suffix and scale, longest suffix that could
/// be confused first) or by nothing (`bare` scale). `None` for anything else, including
/// a product that overflows.
pub fn parse_scaled(text: &str, units: &[(&str, u64)], bare: u64) -> Option<u64> {
    let (digits, scale) = units
        .iter()
        .find_map(|&(suffix, scale)| Some((text.strip_suffix(suffix)?, scale)))
        .unwrap_or((text, bare));
    parse_integer(digits)?.checked_mul(scale)
}

/// `percent` (without its `%`) of `window_us`, rounded down. Up to three decimals.
fn parse_percent_of(percent: &str, window_us: u32) -> Result<u32, String> {
    let (whole, fraction) = percent.split_once('.').unwrap_or((percent, ""));
    let not_a_percentage = || "is not a percentage (e.g. 10% or 12.5%)".to_string();
    if fraction.len() > 3 || (percent.contains('.') && fraction.is_empty()) {
        return Err(not_a_percentage());
    }
    let whole = parse_integer(whole).ok_or_else(not_a_percentage)?;
    let fraction_value = if fraction.is_empty() {
        0
    } else {
        parse_integer(fraction).ok_or_else(not_a_percentage)?
    };
    // In thousandths of a percent, so 12.5% is 12500.
    let milli_percent = whole
        .checked_mul(1000)
        .and_then(|w| w.checked_add(fraction_value * 10u64.pow(3 - fraction.len() as u32)))
        .ok_or_else(not_a_percentage)?;
    if milli_percent == 0 || milli_percent > 100_000 {
        return Err("must be more than 0% and at most 100%".to_string());
    }
    Ok((u64::from(window_us) * milli_percent / 100_000) as u32)
}

/// ASCII digits only: no sign, no spaces, no underscores, at most 19 digits.
fn parse_integer(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(resource: Resource, stall: Stall, threshold_us: u32, window_us: u32) -> Spec {
        Spec {
            resource,
            stall,
            threshold_us,
            window_us,
            cgroup: None,
            severity: Level::Warning,
            name: None,
        }
    }

    #[test]
    fn accepted_forms() {
        use Resource::*;
        use Stall::*;
        let table = [
            (
                "memory:some:150000:1000000",
                spec(Memory, Some, 150_000, 1_000_000),
            ),
            (
                "memory:some:150ms:1s",
                spec(Memory, Some, 150_000, 1_000_000),
            ),
            (
                "memory:some:150000us:1000ms",
                spec(Memory, Some, 150_000, 1_000_000),
            ),
            ("memory:some:10%:2s", spec(Memory, Some, 200_000, 2_000_000)),
            ("io:full:15%:2s", spec(Io, Full, 300_000, 2_000_000)),
            ("cpu:some:50%:2s", spec(Cpu, Some, 1_000_000, 2_000_000)),
            ("cpu:full:12.5%:2s", spec(Cpu, Full, 250_000, 2_000_000)),
            ("cpu:some:0.001%:10s", spec(Cpu, Some, 100, 10_000_000)),
            ("cpu:some:100%:2s", spec(Cpu, Some, 2_000_000, 2_000_000)),
            ("irq:full:1ms:2s", spec(Irq, Full, 1_000, 2_000_000)),
            ("cpu:some:1:1", spec(Cpu, Some, 1, 1)),
            ("io:some:10s:10s", spec(Io, Some, 10_000_000, 10_000_000)),
            ("cpu:some:007ms:2s", spec(Cpu, Some, 7_000, 2_000_000)),
        ];
        for (text, expected) in table {
            assert_eq!(Spec::parse(text).unwrap(), expected, "{text}");
            // The canonical form reads back to the same spec.
            assert_eq!(Spec::parse(&expected.to_string()).unwrap(), expected);
        }
    }

    #[test]
    fn severity_and_name_follow_the_spec() {
        let spec =
            Spec::parse("memory:some:10%:2s:/system.slice/*.service severity=crit name=svc-mem")
                .unwrap();
        assert_eq!(spec.severity, Level::Crit);
        assert_eq!(spec.name.as_deref(), Some("svc-mem"));
        assert_eq!(
            spec.cgroup.as_deref().map(Pattern::as_str),
            Some("/system.slice/*.service")
        );
        assert!(spec.is_pattern());
        assert_eq!(
            spec.to_string(),
            "memory:some:200000:2000000:/system.slice/*.service severity=crit name=svc-mem"
        );
        assert_eq!(Spec::parse(&spec.to_string()).unwrap(), spec);
        // Either order, any white space; the default severity is not shown.
        let other = Spec::parse("cpu:some:50%:2s\tname=a.b_C-9   severity=warning").unwrap();
        assert_eq!(other.severity, Level::Warning);
        assert_eq!(other.to_string(), "cpu:some:1000000:2000000 name=a.b_C-9");
        assert!(other.same_trigger(&Spec::parse("cpu:some:50%:2s severity=emerg").unwrap()));
        assert!(!other.same_trigger(&Spec::parse("cpu:some:40%:2s").unwrap()));
        for level in Level::ALL {
            let text = format!("io:full:15%:2s severity={}", level.name());
            assert_eq!(Spec::parse(&text).unwrap().severity, level, "{text}");
        }
        // A space inside a cgroup path is part of the path, not an option.
        let spaced = Spec::parse("cpu:some:1ms:2s:/a b x=y c").unwrap();
        assert_eq!(
            spaced.cgroup.as_deref().map(Pattern::as_str),
            Some("/a b x=y c")
        );
    }

    #[test]
    fn rejected_forms_quote_the_input_and_say_why() {
        let table = [
            (
                "memory:some:15O000:1s",
                "threshold '15O000' is not a duration",
            ),
            ("memory:some:150000", "it has 3 field(s), not 4 or 5"),
            ("memory:some:1:2:3", "cgroup '3' must start with '/'"),
            (
                "io:full:20%:2s:system.slice/x",
                "cgroup 'system.slice/x' must start with '/'",
            ),
            ("io:full:20%:2s:/a/../b", "cgroup '/a/../b' has a '..'"),
            ("io:full:20%:2s:/a/./b", "cgroup '/a/./b' has a '.'"),
            ("io:full:20%:2s:/a\\", "cgroup '/a\\' ends in a lone '\\'"),
            ("", "it has 1 field(s), not 4 or 5"),
            ("mem:some:1:2s", "unknown resource 'mem'"),
            ("Memory:some:1:2s", "unknown resource 'Memory'"),
            ("memory:most:1:2s", "unknown kind 'most'"),
            ("irq:some:1ms:2s", "irq pressure has only a 'full' line"),
            ("cpu:some:1ms:", "window '' is not a duration"),
            ("cpu:some:1ms:2 s", "unknown option 's'"),
            ("cpu:some:1ms:-2s", "window '-2s' is not a duration"),
            ("cpu:some:1ms:+2s", "window '+2s' is not a duration"),
            ("cpu:some:1ms:2m", "window '2m' is not a duration"),
            ("cpu:some:1ms:1.5s", "window '1.5s' is not a duration"),
            ("cpu:some:1ms:2S", "window '2S' is not a duration"),
            ("cpu:some:1ms:0", "the window must be longer than 0"),
            ("cpu:some:1ms:11s", "longer than the kernel's limit of 10s"),
            (
                "cpu:some:1ms:99999999999999999999s",
                "window '99999999999999999999s' is not",
            ),
            ("cpu:some:1ms:5000s", "window '5000s' is too large"),
            ("cpu:some:0:2s", "the threshold must be more than 0us"),
            ("cpu:some:0ms:2s", "the threshold must be more than 0us"),
            (
                "cpu:some:3s:2s",
                "the threshold 3000000us is longer than the window 2000000us",
            ),
            (
                "cpu:some:0%:2s",
                "threshold '0%' must be more than 0% and at most 100%",
            ),
            (
                "cpu:some:101%:2s",
                "threshold '101%' must be more than 0% and at most 100%",
            ),
            ("cpu:some:%:2s", "threshold '%' is not a percentage"),
            ("cpu:some:1.%:2s", "threshold '1.%' is not a percentage"),
            (
                "cpu:some:1.2345%:2s",
                "threshold '1.2345%' is not a percentage",
            ),
            ("cpu:some:-5%:2s", "threshold '-5%' is not a percentage"),
            (
                "cpu:some:0.00001%:2s",
                "threshold '0.00001%' is not a percentage",
            ),
            (
                "cpu:some:0.0001%:1",
                "threshold '0.0001%' is not a percentage",
            ),
            (
                "cpu:some:1ms:2s severity=critical",
                "unknown severity 'critical' (use emerg, alert, crit",
            ),
            ("cpu:some:1ms:2s severity=", "unknown severity ''"),
            ("cpu:some:1ms:2s severity=CRIT", "unknown severity 'CRIT'"),
            (
                "cpu:some:1ms:2s name=has/slash",
                "name 'has/slash' must be 1 to 32 characters",
            ),
            ("cpu:some:1ms:2s name=", "name '' must be 1 to 32"),
            (
                "cpu:some:1ms:2s name=abcdefghijabcdefghijabcdefghijabc",
                "must be 1 to 32 characters",
            ),
            (
                "cpu:some:1ms:2s sevrity=crit",
                "unknown option 'sevrity=crit' (use severity=LEVEL or name=NAME)",
            ),
            ("cpu:some:1ms:2s name=a name=b", "'name=' is given twice"),
        ];
        for (text, why) in table {
            let error = Spec::parse(text).unwrap_err();
            assert_eq!(error.exit, Exit::Usage, "{text}");
            assert!(
                error
                    .message
                    .starts_with(&format!("invalid trigger '{text}': ")),
                "{text}: {}",
                error.message
            );
            assert!(error.message.contains(why), "{text}: {}", error.message);
        }
    }

    #[test]
    fn a_percentage_that_rounds_to_nothing_is_refused() {
        let error = Spec::parse("cpu:some:0.001%:1ms").unwrap_err();
        assert!(
            error
                .message
                .contains("the threshold must be more than 0us")
        );
    }

    #[test]
    fn the_kernel_command_carries_its_nul() {
        let spec = Spec::parse("memory:some:150000:1000000").unwrap();
        assert_eq!(spec.kernel_command(), b"some 150000 1000000\0");
        let spec = Spec::parse("io:full:20%:2s:/system.slice/postgresql.service").unwrap();
        assert_eq!(
            spec.cgroup.as_deref().map(Pattern::as_str),
            Some("/system.slice/postgresql.service")
        );
        assert!(!spec.is_pattern());
        assert_eq!(
            spec.to_string(),
            "io:full:400000:2000000:/system.slice/postgresql.service"
        );
        let colon = Spec::parse("cpu:some:1ms:2s:/a:b").unwrap();
        assert_eq!(colon.cgroup.as_deref().map(Pattern::as_str), Some("/a:b"));
    }
}
