//! `--check`: the configuration parses and the kernel accepts every trigger, each armed
//! once (every group a pattern matches included) and closed again. The report says how
//! many were accepted, what each pattern matches now, which groups are awaited, what
//! arming found worth a warning, what this kernel allows this process, and the
//! effective configuration in the file's syntax; every line but the configuration's is
//! a comment, so the report is a valid configuration file.

use std::fmt::Write;

use crate::config::{self, Config, Source};
use crate::error::{Error, Exit};
use crate::privilege::{self, Observed};
use crate::roots::Roots;
use crate::sys;
use crate::trigger_set::TriggerSet;

/// Loads the configuration of `source`, arms it on the kernel under `roots`, and
/// returns the report; the error of the first step that fails.
pub fn check(source: &Source, roots: &Roots) -> Result<String, Error> {
    let config = config::load(source, roots)?;
    let privileged = sys::has_cap_sys_resource().map_err(|e| {
        Error::new(
            Exit::OsError,
            format!("cannot read capabilities (capget): {e}"),
        )
    })?;
    let mut set = TriggerSet::start(&config, roots, privileged)?;
    Ok(report(&config, &mut set, &privilege::observe(roots), roots))
}

/// The report on `set`, armed from `config`, with what `observed` saw of the kernel.
fn report(config: &Config, set: &mut TriggerSet, observed: &Observed, roots: &Roots) -> String {
    let armed = set.triggers().iter().filter(|t| t.is_armed()).count();
    let mut text = format!(
        "# psi-syslogd {}: configuration valid, {armed} trigger(s) accepted by the kernel\n",
        env!("CARGO_PKG_VERSION"),
    );
    for census in set.census() {
        let spec = census.spec;
        let _ = if spec.is_pattern() {
            writeln!(
                text,
                "# {spec}: matches {} group(s) now, each armed once; groups that appear later \
                 are armed when they do",
                census.triggers
            )
        } else if census.armed < census.triggers {
            writeln!(
                text,
                "# {spec}: the cgroup does not exist yet; it will be armed when it appears"
            )
        } else {
            Ok(())
        };
    }
    for note in set.take_notes() {
        let _ = writeln!(text, "# {}", note.line().as_str());
    }
    text.push_str(&privilege::describe(observed, roots));
    text.push_str(&config::render(config));
    text
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;

    use super::*;
    use crate::config::Command;
    use crate::roots::fixture::Fixture;

    fn source(args: &[&str]) -> Source {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        match config::parse(&args) {
            Ok(Command::Check(source)) => source,
            _ => panic!("not a check: {args:?}"),
        }
    }

    /// On a fixture tree whose pressure files are the kernel's own (symbolic links to
    /// /proc/pressure/cpu), so every trigger is armed for real: the system-wide trigger,
    /// one per group the pattern matches (not the socket), and the awaited group said so.
    #[test]
    fn the_report_counts_what_the_kernel_accepted_on_a_fixture_tree() {
        let fixture = Fixture::new("check");
        let cpu = Path::new("/proc/pressure/cpu");
        fixture.link("proc/pressure/cpu", cpu);
        for group in ["a.service", "b.service", "c.socket"] {
            fixture.link(&format!("cgroup/system.slice/{group}/cpu.pressure"), cpu);
        }
        let source = source(&[
            "--check",
            "-t",
            "cpu:some:50%:2s",
            "-t",
            "cpu:some:50%:2s:/system.slice/*.service",
            "-t",
            "cpu:some:50%:2s:/late.service",
            "--wait-for-cgroups",
        ]);
        let text = check(&source, &fixture.roots()).unwrap_or_else(|e| panic!("{e}"));
        let cpu_file = fixture.proc().join("pressure/cpu");
        let expected_head = format!(
            "# psi-syslogd {}: configuration valid, 3 trigger(s) accepted by the kernel\n\
             # cpu:some:1000000:2000000:/system.slice/*.service: matches 2 group(s) now, each \
             armed once; groups that appear later are armed when they do\n\
             # cpu:some:1000000:2000000:/late.service: the cgroup does not exist yet; it will \
             be armed when it appears\n\
             # what this kernel allows this process (",
            env!("CARGO_PKG_VERSION")
        );
        assert!(text.starts_with(&expected_head), "{text}");
        assert!(
            text.contains(&format!("\n# {} is mode 0", cpu_file.display())),
            "{text}"
        );
        let configuration = "trigger cpu:some:1000000:2000000\n\
             trigger cpu:some:1000000:2000000:/system.slice/*.service\n\
             trigger cpu:some:1000000:2000000:/late.service\n\
             # socket: the first of /dev/log, /var/run/syslog, /var/run/log\n\
             facility daemon\n\
             ident psi-syslogd\n\
             repeat 1m\n\
             # recover-after: 5 windows of each trigger, at least 10s\n\
             # heartbeat: off\n\
             wait-for-cgroups\n";
        assert!(text.ends_with(configuration), "{text}");
        assert!(
            text.strip_suffix(configuration)
                .unwrap()
                .lines()
                .all(|line| line.starts_with("# ")),
            "{text}"
        );
    }

    /// Without --wait-for-cgroups a missing group is the error of a start (69), and a
    /// proc root without pressure files is PSI missing (69): nothing is reported.
    #[test]
    fn what_a_start_refuses_check_refuses() {
        let fixture = Fixture::new("check-errors");
        fixture.link("proc/pressure/cpu", Path::new("/proc/pressure/cpu"));
        let late = source(&["--check", "-t", "cpu:some:50%:2s:/late.service"]);
        let error = check(&late, &fixture.roots()).unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable, "{error}");
        assert!(
            error.message.contains("the cgroup does not exist"),
            "{error}"
        );
        let memory = source(&["--check", "-t", "memory:some:50%:2s"]);
        let error = check(&memory, &fixture.roots()).unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable, "{error}");
        assert!(error.message.contains("PSI is not available"), "{error}");
    }
}
