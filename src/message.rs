//! What the daemon says: the events the trigger set decides on (`Event`, typed, which
//! the event loop turns into lines), and the text of every event: which keys each
//! `event=` line carries, in which order, and at which severity (the format itself,
//! logfmt, is logfmt.rs's).
//!
//! The keys are a contract that alert rules match on; README.md and the man page list
//! them. Values that come from outside go through `Line::text` or `Line::cgroup_path`,
//! which quote and escape them.

use std::fmt::Write;

use syslog::Severity;

use crate::logfmt::Line;
use crate::pressure::{Hundredths, Reading};
use crate::spec::Spec;
use crate::trigger::Subject;

/// Something about a trigger worth a line, as the trigger set decides it. Built and
/// said without allocating on the way of a crossing: a `Subject` is two counted
/// references.
#[derive(Clone, Debug)]
pub enum Event {
    /// A real crossing: an episode starts (or, with repeat 0, any crossing). `stall_us`
    /// is the growth of `total=` since the trigger's previous reading.
    Pressure {
        subject: Subject,
        reading: Reading,
        stall_us: u64,
    },
    /// The episode goes on; `reading` is the last one taken.
    Ongoing {
        subject: Subject,
        reading: Reading,
        duration_us: u64,
        crossings: u64,
    },
    /// The episode is over (quiet for the period, or its trigger closed).
    Recovered {
        subject: Subject,
        duration_us: u64,
        crossings: u64,
        peak_avg10: Hundredths,
    },
    /// A group that matches a pattern appeared and is armed.
    Armed(Subject),
    /// A matched group is gone and its trigger closed.
    Removed(Subject),
    /// A fixed group that was awaited or lost exists again and is armed.
    Rearmed(Subject),
    /// A fixed group does not exist yet.
    Waiting(Subject),
    /// The kernel reported an error on the trigger's descriptor.
    Lost { subject: Subject, reason: String },
    /// A group could not be armed; `reason` says why and what happens next.
    Unarmed { subject: Subject, reason: String },
    /// One trigger's state on SIGUSR1.
    Status {
        subject: Subject,
        state: &'static str,
        reading: Option<Reading>,
        duration_us: u64,
    },
    /// Something the daemon survives, but an operator should know.
    Warning(String),
}

impl Event {
    /// The syslog severity of the event's line: a trigger's own for its crossings.
    pub fn severity(&self) -> Severity {
        match self {
            Event::Pressure { subject, .. } | Event::Ongoing { subject, .. } => {
                subject.spec.severity.severity()
            }
            Event::Recovered { .. } | Event::Rearmed(_) | Event::Waiting(_) => Severity::LOG_NOTICE,
            Event::Armed(_) | Event::Removed(_) | Event::Status { .. } => Severity::LOG_INFO,
            Event::Lost { .. } => Severity::LOG_ERR,
            Event::Unarmed { .. } | Event::Warning(_) => Severity::LOG_WARNING,
        }
    }

    /// The event's line.
    pub fn line(&self) -> Line {
        match self {
            Event::Pressure {
                subject,
                reading,
                stall_us,
            } => pressure(subject, reading, *stall_us),
            Event::Ongoing {
                subject,
                reading,
                duration_us,
                crossings,
            } => ongoing(subject, reading, *duration_us, *crossings),
            Event::Recovered {
                subject,
                duration_us,
                crossings,
                peak_avg10,
            } => recovered(subject, *duration_us, *crossings, *peak_avg10),
            Event::Armed(subject) => trigger_event("armed", subject),
            Event::Removed(subject) => trigger_event("removed", subject),
            Event::Rearmed(subject) => trigger_event("rearmed", subject),
            Event::Waiting(subject) => trigger_event("waiting", subject),
            Event::Lost { subject, reason } => lost(subject, reason),
            Event::Unarmed { subject, reason } => unarmed(subject, reason),
            Event::Status {
                subject,
                state,
                reading,
                duration_us,
            } => status(subject, state, reading.as_ref(), *duration_us),
            Event::Warning(text) => warning(text),
        }
    }
}

/// A trigger line: `event=EVENT`, the trigger's identity (resource, kind, threshold and
/// window), what `middle` adds, then what ends every trigger line: ` name=NAME` when the
/// trigger has one (it needs no quoting: spec.rs checks it) and ` cgroup=GROUP` (`/` for
/// system-wide), last, so that it keeps the room the budget leaves it. `middle` comes
/// through a reference: one body for every kind of trigger line, not one copy each
/// (the binary is measured by the kilobyte).
fn trigger_line(event: &str, subject: &Subject, middle: &dyn Fn(&mut Line)) -> Line {
    let spec = &subject.spec;
    let mut line = Line::event(event);
    line.field("resource", spec.resource.name())
        .field("kind", spec.stall.name())
        .field("threshold_us", spec.threshold_us)
        .field("window_us", spec.window_us);
    middle(&mut line);
    if let Some(name) = &spec.name {
        line.field("name", name);
    }
    line.cgroup_path(&subject.group);
    line
}

/// Appends the three averages of a reading.
fn averages<'a>(line: &'a mut Line, reading: &Reading) -> &'a mut Line {
    line.field("avg10", reading.avg10)
        .field("avg60", reading.avg60)
        .field("avg300", reading.avg300)
}

/// `event=pressure`: a real threshold crossing. `stall_us` is the growth of the
/// kind's `total=` counter since this trigger's previous reading.
pub fn pressure(subject: &Subject, reading: &Reading, stall_us: u64) -> Line {
    trigger_line("pressure", subject, &|line| {
        averages(line, reading).field("stall_us", stall_us);
    })
}

/// `event=start`: every trigger is armed.
pub fn start(specs: &[Spec]) -> Line {
    let mut line = Line::event("start");
    line.field("version", env!("CARGO_PKG_VERSION"))
        .field("triggers", specs.len());
    let mut list = String::new();
    for spec in specs {
        if !list.is_empty() {
            list.push(',');
        }
        let _ = write!(list, "{spec}");
    }
    line.text("specs", &list);
    line
}

/// `event=stop`: a signal asked us to stop.
pub fn stop(signal: &str) -> Line {
    let mut line = Line::event("stop");
    line.field("signal", signal);
    line
}

/// `event=error`: why the daemon exits without running, for the log as well as stderr.
pub fn error(exit: i32, message: &str) -> Line {
    let mut line = Line::event("error");
    line.field("exit", exit).text("message", message);
    line
}

/// `event=lost`: the kernel reported an error on a trigger's descriptor; it is no longer
/// watched.
pub fn lost(subject: &Subject, reason: &str) -> Line {
    trigger_line("lost", subject, &|line| {
        line.text("reason", reason);
    })
}

/// `event=ongoing`: a reminder while an episode lasts, with the last reading's averages.
pub fn ongoing(subject: &Subject, reading: &Reading, duration_us: u64, crossings: u64) -> Line {
    trigger_line("ongoing", subject, &|line| {
        averages(line, reading)
            .seconds("duration_s", duration_us)
            .field("crossings", crossings);
    })
}

/// `event=recovered`: no crossing for the quiet period; the episode is over.
pub fn recovered(
    subject: &Subject,
    duration_us: u64,
    crossings: u64,
    peak_avg10: Hundredths,
) -> Line {
    trigger_line("recovered", subject, &|line| {
        line.seconds("duration_s", duration_us)
            .field("crossings", crossings)
            .field("peak_avg10", peak_avg10);
    })
}

/// A line of only the trigger's keys: `rearmed` (a lost or awaited fixed cgroup exists
/// again and its trigger is armed), `waiting` (the fixed cgroup does not exist yet),
/// `armed` (a group that matches a pattern appeared and is armed), `removed` (a matched
/// group is gone and its trigger closed).
pub fn trigger_event(event: &str, subject: &Subject) -> Line {
    trigger_line(event, subject, &|_| {})
}

/// `event=unarmed`: a group that matches a pattern could not be armed; `reason` says
/// why and what happens next.
pub fn unarmed(subject: &Subject, reason: &str) -> Line {
    trigger_line("unarmed", subject, &|line| {
        line.text("reason", reason);
    })
}

/// `event=warning`: something the daemon survives, but an operator should know.
pub fn warning(text: &str) -> Line {
    let mut line = Line::event("warning");
    line.text("message", text);
    line
}

/// `event=status`: one trigger's state on SIGUSR1.
pub fn status(subject: &Subject, state: &str, reading: Option<&Reading>, duration_us: u64) -> Line {
    trigger_line("status", subject, &|line| {
        line.field("state", state);
        if let Some(reading) = reading {
            averages(line, reading);
        }
        line.seconds("duration_s", duration_us);
    })
}

/// `event=heartbeat`: the daemon is alive.
pub fn heartbeat(triggers: usize, active: usize, uptime_us: u64) -> Line {
    let mut line = Line::event("heartbeat");
    line.field("triggers", triggers)
        .field("active", active)
        .seconds("uptime_s", uptime_us);
    line
}

/// `event=reload`: SIGHUP applied a new configuration.
pub fn reload(triggers: usize, kept: usize) -> Line {
    let mut line = Line::event("reload");
    line.field("triggers", triggers).field("kept", kept);
    line
}

/// `event=reload_failed`: SIGHUP found an error; the old triggers stay armed.
pub fn reload_failed(reason: &str) -> Line {
    let mut line = Line::event("reload_failed");
    line.text("reason", reason);
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logfmt::{CGROUP_VALUE_MIN, CUT_MARK, LINE_BUDGET};
    use crate::sink::{DATAGRAM_CAPACITY, Entry, Header};
    use syslog::Facility;

    fn subject(spec: &str, group: &str) -> Subject {
        Subject {
            spec: std::rc::Rc::new(Spec::parse(spec).unwrap()),
            group: group.into(),
        }
    }

    #[test]
    fn pressure_line_has_the_documented_keys_in_order() {
        let reading = Reading {
            avg10: Hundredths(1234),
            avg60: Hundredths(310),
            avg300: Hundredths(80),
            total_us: 99,
        };
        assert_eq!(
            pressure(
                &subject("memory:some:150000:1000000", "/"),
                &reading,
                160_000
            )
            .as_str(),
            "event=pressure resource=memory kind=some threshold_us=150000 window_us=1000000 \
             avg10=12.34 avg60=3.10 avg300=0.80 stall_us=160000 cgroup=/"
        );
    }

    /// `name=` goes just before `cgroup=`, which stays last; no other key moves.
    #[test]
    fn a_name_comes_just_before_the_cgroup() {
        let named = subject(
            "memory:some:10%:2s:/system.slice/*.service severity=crit name=svc-mem",
            "/system.slice/postgresql.service",
        );
        assert_eq!(
            trigger_event("armed", &named).as_str(),
            "event=armed resource=memory kind=some threshold_us=200000 window_us=2000000 \
             name=svc-mem cgroup=/system.slice/postgresql.service"
        );
        let line = recovered(&named, 12_300_000, 4, Hundredths(4200));
        assert!(
            line.as_str().ends_with(
                " duration_s=12.3 crossings=4 peak_avg10=42.00 name=svc-mem \
                 cgroup=/system.slice/postgresql.service"
            ),
            "{}",
            line.as_str()
        );
    }

    /// The budget: an ordinary trigger line, header and all, within 240 bytes (BusyBox
    /// syslogd reads 256). Measured with the largest values the kernel allows (10 s
    /// thresholds and windows, 100% averages), a day-long episode with 99999 crossings,
    /// Linux's largest pid (4194304), the default ident and the longest cgroup value.
    /// A trigger's `name=` comes on top (`spec::NAME_MAX` and 6 bytes at most).
    #[test]
    fn the_longest_ordinary_trigger_lines_fit_in_240_bytes() {
        let header = Header {
            facility: Facility::LOG_DAEMON,
            ident: "psi-syslogd".into(),
            pid: 4_194_304,
        };
        let subject = subject(
            "memory:some:10000000:10000000",
            &"/very-long-name.slice".repeat(10),
        );
        let full = Reading {
            avg10: Hundredths(10_000),
            avg60: Hundredths(10_000),
            avg300: Hundredths(10_000),
            total_us: u64::MAX,
        };
        let day_us = 86_400_000_000;
        let events = [
            Event::Pressure {
                subject: subject.clone(),
                reading: full,
                stall_us: 10_000_000,
            },
            Event::Ongoing {
                subject: subject.clone(),
                reading: full,
                duration_us: day_us,
                crossings: 99_999,
            },
            Event::Recovered {
                subject: subject.clone(),
                duration_us: day_us,
                crossings: 99_999,
                peak_avg10: Hundredths(10_000),
            },
            Event::Lost {
                subject: subject.clone(),
                reason: "the kernel reported an error on the trigger (cgroup removed?)".into(),
            },
            Event::Rearmed(subject.clone()),
            Event::Removed(subject.clone()),
            Event::Armed(subject.clone()),
            Event::Waiting(subject),
        ];
        for event in &events {
            let line = event.line();
            let entry = Entry {
                seconds: 0,
                body: line.as_str(),
                dropped: 0,
            };
            let mut datagram = [0u8; DATAGRAM_CAPACITY];
            let len = header.compose_entry(Severity::LOG_WARNING, &entry, &mut datagram);
            let text = std::str::from_utf8(&datagram[..len]).unwrap();
            eprintln!("{len} bytes: {text}");
            assert!(len <= LINE_BUDGET, "{len} bytes: {text}");
            let cgroup = text.rsplit_once(" cgroup=").unwrap().1;
            // The longest line leaves the cgroup its least room; shorter ones, more.
            if line.as_str().starts_with("event=ongoing ") {
                assert_eq!(cgroup.len(), CGROUP_VALUE_MIN, "{text}");
            }
            assert!(cgroup.len() >= CGROUP_VALUE_MIN, "{text}");
            assert!(
                cgroup.starts_with(CUT_MARK) && cgroup.ends_with("name.slice"),
                "{text}"
            );
        }
    }

    #[test]
    fn start_lists_the_triggers() {
        let specs = [
            Spec::parse("memory:some:10%:2s").unwrap(),
            Spec::parse("cpu:some:50%:2s").unwrap(),
        ];
        assert_eq!(
            start(&specs).as_str(),
            format!(
                "event=start version={} triggers=2 specs=memory:some:200000:2000000,cpu:some:1000000:2000000",
                env!("CARGO_PKG_VERSION")
            )
        );
    }
}
