//! psi-syslogd: arms Linux PSI triggers and logs every real threshold crossing to syslog.
//!
//! The modules, one concept each: `trigger` (spec, rules, arming), `pressure` (reading
//! the stats and deciding), `episode` (start, reminders, recovery), `cgroup` (cgroup v2
//! groups and their re-creation), `message` (the logfmt text), `sink` (syslog,
//! journald or stderr, and the queue), `journal` (journald's native protocol), `notify`
//! (readiness for supervisors), `event_loop` (poll, timers and signals), `config` (command line and file),
//! `report` (--print), `sys` (every system call).

pub mod cgroup;
pub mod config;
pub mod episode;
pub mod error;
pub mod event_loop;
pub mod journal;
pub mod message;
pub mod notify;
pub mod pressure;
pub mod report;
pub mod sink;
pub mod sys;
pub mod trigger;
