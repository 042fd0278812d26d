//! The compact progress of a large apply or destroy: instead of a line per step, one status
//! line with the count of each kind of resource done, running and to do, the image copies
//! running and the bytes and rate overall; failures still get a line each. Fed the engine's
//! events (the same ones `--json` consumers see); knows nothing of the engine's internals.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::time::Instant;

use crate::engine::{Event, PlanOutcome};
use crate::graph::Address;

use super::render::human_bytes;

/// Above this many steps with something to do, the compact view is used.
pub const COMPACT_ABOVE: usize = 30;

/// Counts of one kind of resource.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Count {
    total: usize,
    running: usize,
    done: usize,
    failed: usize,
}

/// The tally of a run.
#[derive(Debug)]
pub struct FleetProgress {
    kinds: BTreeMap<&'static str, Count>,
    copying: BTreeMap<Address, u64>,
    copied: u64,
    started: Instant,
}

/// Kinds in the order a server's chain makes them.
const ORDER: &[&str] = &[
    "snapshot",
    "image",
    "keypair",
    "security_group",
    "security_group_rule",
    "server",
    "floating_ip",
];

impl FleetProgress {
    /// The tally of `plan`'s steps, or `None` when it is small enough for a line per step.
    pub fn for_plan(plan: &PlanOutcome) -> Option<FleetProgress> {
        let working: Vec<&Address> = plan
            .changes
            .iter()
            .filter(|c| !c.action.is_no_op())
            .map(|c| &c.address)
            .collect();
        if working.len() <= COMPACT_ABOVE {
            return None;
        }
        let mut kinds: BTreeMap<&'static str, Count> = BTreeMap::new();
        for address in working {
            kinds.entry(address.kind()).or_default().total += 1;
        }
        Some(FleetProgress {
            kinds,
            copying: BTreeMap::new(),
            copied: 0,
            started: Instant::now(),
        })
    }

    /// Take one event; returns a line to print on its own (a failure), if any.
    pub fn event(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Started { address, .. } => {
                self.count(address).running += 1;
                None
            }
            Event::Finished { address, .. } => {
                let c = self.count(address);
                c.running = c.running.saturating_sub(1);
                c.done += 1;
                if let Some(bytes) = self.copying.remove(address) {
                    self.copied += bytes;
                }
                None
            }
            Event::Failed {
                address, message, ..
            } => {
                let c = self.count(address);
                c.running = c.running.saturating_sub(1);
                c.failed += 1;
                if let Some(bytes) = self.copying.remove(address) {
                    self.copied += bytes;
                }
                Some(format!("{address}: failed: {message}"))
            }
            Event::Cancelled { address } => {
                let c = self.count(address);
                c.running = c.running.saturating_sub(1);
                self.copying.remove(address);
                None
            }
            Event::Transfer { address, bytes, .. } => {
                self.copying.insert(address.clone(), *bytes);
                None
            }
            Event::WaitingForQuota {
                address,
                message,
                limit_s,
            } => Some(super::migrate::quota_line(address, message, *limit_s)),
            _ => None,
        }
    }

    fn count(&mut self, address: &Address) -> &mut Count {
        self.kinds.entry(address.kind()).or_default()
    }

    /// `snapshot 12/200 (5 running) · image 8/200 (4 copying) · ... · 1.2 GiB at 85.0 MB/s`
    pub fn line(&self) -> String {
        let mut out = String::new();
        let known: BTreeSet<&str> = ORDER.iter().copied().collect();
        let kinds = ORDER
            .iter()
            .copied()
            .chain(self.kinds.keys().copied().filter(|k| !known.contains(k)));
        for kind in kinds {
            let Some(c) = self.kinds.get(kind) else {
                continue;
            };
            if !out.is_empty() {
                out.push_str(" · ");
            }
            let _ = write!(out, "{kind} {}/{}", c.done, c.total);
            let mut notes = Vec::new();
            if c.running > 0 {
                let verb = if kind == "image" && !self.copying.is_empty() {
                    "copying"
                } else {
                    "running"
                };
                notes.push(format!("{} {verb}", c.running));
            }
            if c.failed > 0 {
                notes.push(format!("{} failed", c.failed));
            }
            if !notes.is_empty() {
                let _ = write!(out, " ({})", notes.join(", "));
            }
        }
        let bytes = self.copied + self.copying.values().sum::<u64>();
        if bytes > 0 {
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let _ = write!(
                out,
                " · {} copied at {}/s",
                human_bytes(bytes),
                human_bytes((bytes as f64 / secs) as u64)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Action, Change, Operation, PLAN_FORMAT_VERSION, Summary};
    use crate::state::Origin;

    fn plan(servers: usize) -> PlanOutcome {
        let changes = (0..servers)
            .flat_map(|i| {
                [
                    Address::Snapshot {
                        name: format!("s{i}"),
                    },
                    Address::Image {
                        name: format!("i{i}"),
                    },
                    Address::Server {
                        name: format!("v{i}"),
                    },
                ]
            })
            .map(|address| Change {
                address,
                action: Action::Create,
                reason: None,
                origin: Origin::Created,
                before: None,
                after: None,
                node: None,
                depends_on: Vec::new(),
            })
            .collect();
        PlanOutcome {
            format_version: PLAN_FORMAT_VERSION,
            operation: Operation::Apply,
            lineage: "l".into(),
            serial: 0,
            changes,
            summary: Summary::default(),
            selected: Vec::new(),
            boot: Vec::new(),
        }
    }

    #[test]
    fn a_small_plan_keeps_its_lines_and_a_fleet_gets_one_tally() {
        assert!(FleetProgress::for_plan(&plan(10)).is_none());
        let mut view = FleetProgress::for_plan(&plan(20)).expect("compact");
        let snap = Address::Snapshot { name: "s0".into() };
        let image = Address::Image { name: "i0".into() };
        let started = |address: &Address| Event::Started {
            address: address.clone(),
            action: "create".into(),
        };
        assert_eq!(view.event(&started(&snap)), None);
        assert_eq!(
            view.event(&Event::Finished {
                address: snap.clone(),
                action: "create".into(),
                elapsed_ms: 5,
            }),
            None
        );
        view.event(&started(&image));
        view.event(&Event::Transfer {
            address: image.clone(),
            bytes: 3 << 20,
            total: Some(8 << 20),
        });
        let line = view.line();
        assert!(
            line.starts_with(
                "snapshot 1/20 · image 0/20 (1 copying) · server 0/20 · 3.0 MiB copied at "
            ),
            "{line}"
        );
        let failed = view.event(&Event::Failed {
            address: image.clone(),
            message: "boom".into(),
            diagnosis: Default::default(),
        });
        assert_eq!(failed.as_deref(), Some("image.i0: failed: boom"));
        assert!(
            view.line().contains("image 0/20 (1 failed)"),
            "{}",
            view.line()
        );
    }
}
