//! `--print`: the current pressure of every resource, system-wide and for the cgroups
//! asked for, as a table. The stats reader the seed's `psi` tool was.

use std::fmt::Write;
use std::path::Path;

use crate::cgroup;
use crate::error::{Error, Exit};
use crate::pressure::{self, Resource, Stall};

/// The table for the system and for each of `cgroups` (names as /proc/PID/cgroup gives
/// them, or full paths). Resources the kernel does not report (irq, often) are left out.
pub fn table(cgroups: &[String]) -> Result<String, Error> {
    let mut sources = vec![("/".to_string(), "/proc/pressure".into())];
    if !cgroups.is_empty() {
        let mount = cgroup::find_mount()
            .map_err(|e| Error::new(Exit::Unavailable, format!("cannot print cgroups: {e}")))?;
        for given in cgroups {
            let name = cgroup::relative_name(given, &mount).map_err(|why| {
                Error::new(Exit::Usage, format!("invalid --cgroup '{given}': {why}"))
            })?;
            let dir = match &name {
                Some(name) => mount.join(name.trim_start_matches('/')),
                None => mount.clone(),
            };
            sources.push((name.unwrap_or_else(|| "/".into()), dir));
        }
    }
    let mut text = format!(
        "{:<8} {:<5} {:>7} {:>7} {:>7} {:>16}  CGROUP\n",
        "RESOURCE", "KIND", "AVG10", "AVG60", "AVG300", "TOTAL_US"
    );
    for (name, dir) in &sources {
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
        if !found {
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
