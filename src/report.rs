//! `--print`: the current pressure of every resource, system-wide and for the cgroups
//! asked for, as a table. The stats reader the seed's `psi` tool was.

use std::fmt::Write;
use std::path::PathBuf;

use crate::error::{Error, Exit};
use crate::pattern::Pattern;
use crate::pressure::{self, Resource, Stall};
use crate::roots::{self, Roots};

/// Where one row group of the table is read from.
enum Source {
    /// The system-wide files, `PROC/pressure/RESOURCE`.
    System,
    /// A group's directory, its `RESOURCE.pressure` files; `required` unless a pattern
    /// matched it (it may be gone by the time it is read).
    Group { dir: PathBuf, required: bool },
}

/// The table for the system and for each of `cgroups` (names as /proc/PID/cgroup gives
/// them, or full paths; a pattern stands for every group it matches now). Resources
/// the kernel does not report (irq, often) are left out.
pub fn table(cgroups: &[Pattern], roots: &Roots) -> Result<String, Error> {
    let mut sources = vec![("/".to_string(), Source::System)];
    if !cgroups.is_empty() {
        let mount = roots
            .cgroup2()
            .map_err(|why| Error::new(Exit::Unavailable, format!("cannot print cgroups: {why}")))?;
        for given in cgroups {
            let Some(pattern) = given.relative_to(mount) else {
                let root = Source::Group {
                    dir: mount.to_path_buf(),
                    required: true,
                };
                sources.push(("/".into(), root));
                continue;
            };
            if let Some(group) = pattern.fixed_group() {
                let dir = roots::group_dir(mount, &group);
                sources.push((
                    group,
                    Source::Group {
                        dir,
                        required: true,
                    },
                ));
                continue;
            }
            // A pattern: every group it matches now (none is no error: it lists nothing).
            let matches = pattern.matches(mount).map_err(|e| {
                Error::new(
                    Exit::OsError,
                    format!("cannot list the groups of --cgroup '{given}': {e}"),
                )
            })?;
            sources.extend(matches.into_iter().map(|m| {
                let group = Source::Group {
                    dir: m.dir,
                    required: false,
                };
                (m.cgroup, group)
            }));
        }
    }
    let mut text = format!(
        "{:<8} {:<5} {:>7} {:>7} {:>7} {:>16}  CGROUP\n",
        "RESOURCE", "KIND", "AVG10", "AVG60", "AVG300", "TOTAL_US"
    );
    for (name, source) in &sources {
        let mut found = false;
        for resource in Resource::ALL {
            let file = match source {
                Source::System => roots.system_pressure(resource),
                Source::Group { dir, .. } => roots::group_pressure(dir, resource),
            };
            let Ok(contents) = std::fs::read(&file) else {
                continue;
            };
            found = true;
            for stall in [Stall::Some, Stall::Full] {
                if let Some(r) = pressure::parse(&contents, stall) {
                    let _ = writeln!(
                        text,
                        "{:<8} {:<5} {:>7} {:>7} {:>7} {:>16}  {name}",
                        resource.name(),
                        stall.name(),
                        r.avg10.to_string(),
                        r.avg60.to_string(),
                        r.avg300.to_string(),
                        r.total_us
                    );
                }
            }
        }
        let (dir, required) = match source {
            Source::System => (roots.pressure_dir(), true),
            Source::Group { dir, required } => (dir.clone(), *required),
        };
        if !found && required {
            let hint = if name == "/" {
                "PSI is not available: the kernel needs CONFIG_PSI=y (and psi=1 at boot when \
                 CONFIG_PSI_DEFAULT_DISABLED=y)"
            } else {
                "the cgroup does not exist or has no pressure files"
            };
            return Err(Error::new(
                Exit::Unavailable,
                format!("cannot read pressure from {}: {hint}", dir.display()),
            ));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roots::fixture::{Fixture, pressure_text};

    #[test]
    fn the_table_reads_the_system_and_every_group_asked_for() {
        let fixture = Fixture::new("print");
        fixture.write("proc/pressure/cpu", &pressure_text(100, Some(7)));
        fixture.write("proc/pressure/memory", &pressure_text(200, Some(8)));
        fixture.write("proc/pressure/io", &pressure_text(300, None));
        fixture.group("/system.slice/a.service", &["cpu", "memory"]);
        fixture.group("/system.slice/b.service", &["io"]);
        fixture.group("/user.slice", &["cpu"]);
        let roots = fixture.roots();
        let full_path = format!("{}/user.slice", fixture.cgroup().display());
        let cgroups = [
            Pattern::parse("/system.slice/*.service").unwrap(),
            Pattern::parse(&full_path).unwrap(),
        ];
        let text = table(&cgroups, &roots).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        // A pattern's groups come in the order the directory lists them.
        lines[6..12].sort();
        assert_eq!(
            lines,
            [
                "RESOURCE KIND    AVG10   AVG60  AVG300         TOTAL_US  CGROUP",
                "cpu      some     1.50    0.25    0.05              100  /",
                "cpu      full     0.00    0.00    0.00                7  /",
                "memory   some     1.50    0.25    0.05              200  /",
                "memory   full     0.00    0.00    0.00                8  /",
                "io       some     1.50    0.25    0.05              300  /",
                "cpu      full     0.00    0.00    0.00                0  /system.slice/a.service",
                "cpu      some     1.50    0.25    0.05                1  /system.slice/a.service",
                "io       full     0.00    0.00    0.00                0  /system.slice/b.service",
                "io       some     1.50    0.25    0.05                1  /system.slice/b.service",
                "memory   full     0.00    0.00    0.00                0  /system.slice/a.service",
                "memory   some     1.50    0.25    0.05                2  /system.slice/a.service",
                "cpu      some     1.50    0.25    0.05                1  /user.slice",
                "cpu      full     0.00    0.00    0.00                0  /user.slice",
            ]
        );
    }

    #[test]
    fn what_cannot_be_read_is_said_with_its_path_and_status() {
        let fixture = Fixture::new("print-errors");
        let roots = fixture.roots();
        let error = table(&[], &Roots::new(fixture.dir.join("nothing"))).unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable);
        assert!(
            error.message.starts_with(&format!(
                "cannot read pressure from {}/nothing/pressure: PSI is not available",
                fixture.dir.display()
            )),
            "{}",
            error.message
        );
        fixture.write("proc/pressure/cpu", &pressure_text(1, None));
        let cgroup = |text: &str| [Pattern::parse(text).unwrap()];
        let error = table(&cgroup("/gone.service"), &roots).unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message,
            format!(
                "cannot read pressure from {}/gone.service: the cgroup does not exist or has \
                 no pressure files",
                fixture.cgroup().display()
            )
        );
        // A pattern that matches nothing lists nothing, and is no error.
        assert_eq!(
            table(&cgroup("/*.scope"), &roots).unwrap().lines().count(),
            2
        );
        fixture.write("proc/self/mountinfo", "");
        let error = table(&cgroup("/x"), &fixture.roots()).unwrap_err();
        assert_eq!(error.exit, Exit::Unavailable);
        assert!(
            error
                .message
                .starts_with("cannot print cgroups: no cgroup2 filesystem in "),
            "{}",
            error.message
        );
    }
}
