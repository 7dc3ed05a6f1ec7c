//! `--print`: the current pressure of every resource, system-wide and for the cgroups
//! asked for, as a table. The stats reader the seed's `psi` tool was.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use crate::cgroup;
use crate::error::{Error, Exit};
use crate::pattern::Pattern;
use crate::pressure::{self, Resource, Stall};

/// The table for the system and for each of `cgroups` (names as /proc/PID/cgroup gives
/// them, or full paths; a pattern stands for every group it matches now). Resources
/// the kernel does not report (irq, often) are left out.
pub fn table(cgroups: &[String]) -> Result<String, Error> {
    // Each source: its name, its directory, and whether it must exist (a group a
    // pattern matched may be gone by the time it is read).
    let mut sources = vec![("/".to_string(), PathBuf::from("/proc/pressure"), true)];
    if !cgroups.is_empty() {
        let mount = cgroup::find_mount()
            .map_err(|e| Error::new(Exit::Unavailable, format!("cannot print cgroups: {e}")))?;
        for given in cgroups {
            let invalid =
                |why: String| Error::new(Exit::Usage, format!("invalid --cgroup '{given}': {why}"));
            let name = cgroup::relative_name(given, &mount).map_err(invalid)?;
            let Some(name) = name else {
                sources.push(("/".into(), mount.clone(), true));
                continue;
            };
            let pattern = Pattern::parse(&name).map_err(invalid)?;
            if let Some(group) = pattern.fixed_group() {
                sources.push((
                    group.clone(),
                    mount.join(group.trim_start_matches('/')),
                    true,
                ));
                continue;
            }
            // A pattern: every group it matches now (none is no error: it lists nothing).
            let matches = pattern.matches(&mount).map_err(|e| {
                Error::new(
                    Exit::OsError,
                    format!("cannot list the groups of --cgroup '{given}': {e}"),
                )
            })?;
            sources.extend(matches.into_iter().map(|m| (m.cgroup, m.dir, false)));
        }
    }
    let mut text = format!(
        "{:<8} {:<5} {:>7} {:>7} {:>7} {:>16}  CGROUP\n",
        "RESOURCE", "KIND", "AVG10", "AVG60", "AVG300", "TOTAL_US"
    );
    for (name, dir, required) in &sources {
        let mut found = false;
        for resource in Resource::ALL {
            let file = if name == "/" && dir == Path::new("/proc/pressure") {
                dir.join(resource.name())
            } else {
                dir.join(format!("{}.pressure", resource.name()))
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
        if !found && *required {
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
