//! The graph walk: run every node of a dependency graph as soon as everything it depends on
//! is done, at most `parallelism` at a time, and report each node's outcome as it happens.
//!
//! # How it works
//!
//! One coordinator (the `walk` function's own loop) owns all bookkeeping; the nodes run as
//! tokio tasks in a [`JoinSet`] and only return their result. The coordinator keeps, per node,
//! the number of dependencies not yet done (its in-degree). Nodes whose count is zero are
//! *ready*; they start in index order (so runs are reproducible) while fewer than
//! `parallelism` tasks run. When a task finishes, the coordinator records its outcome, tells
//! the caller through `on_event` (where the engine commits the state and emits its events:
//! nothing a node finished is lost if the process dies right after), and decrements the
//! counts of the node's dependents, which may make them ready.
//!
//! A node that fails does not stop the walk. Everything that depends on it, directly or
//! through other nodes, becomes [`Outcome::Skipped`] naming the node that *failed* (the root
//! cause, not the skipped node in between), so the summary reports each failure once.
//! Independent branches carry on.
//!
//! Stopping comes in two stages, like Ctrl-C twice in Terraform or nextest:
//! - the *graceful* token (first Ctrl-C, or `on_event` answering [`ControlFlow::Break`], e.g.
//!   because the state could not be written): no new node starts; running nodes finish and
//!   are reported; nodes never started become `Cancelled(Interrupt)`.
//! - the *hard* token (second Ctrl-C): running nodes are aborted and reported as
//!   `Cancelled(SecondSignal)`. Each node also receives the hard token, so it can stop a long
//!   wait or an image stream between chunks instead of being torn down mid-call.

use std::collections::BTreeSet;
use std::future::Future;
use std::num::NonZeroUsize;
use std::ops::ControlFlow;
use std::time::Duration;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Why a node did not run to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// A graceful stop was asked for (first Ctrl-C, or the caller stopped the walk).
    Interrupt,
    /// A hard stop (second Ctrl-C): running work was aborted.
    SecondSignal,
}

/// How one node ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<O, E> {
    Done(O),
    Failed(E),
    /// Not run because `because` (a node it depends on, at any depth) failed.
    Skipped {
        because: NodeIndex,
    },
    Cancelled(CancelReason),
}

impl<O, E> Outcome<O, E> {
    pub fn is_done(&self) -> bool {
        matches!(self, Outcome::Done(_))
    }
}

/// What the walk tells its caller while it runs.
#[derive(Debug)]
pub enum WalkEvent<'a, O, E> {
    Started(NodeIndex),
    Finished {
        node: NodeIndex,
        outcome: &'a Outcome<O, E>,
        elapsed: Duration,
    },
}

/// The two stop signals.
#[derive(Debug, Clone, Default)]
pub struct Stop {
    pub graceful: CancellationToken,
    pub hard: CancellationToken,
}

/// The result of a walk: every node's outcome and how long it ran.
#[derive(Debug)]
pub struct WalkSummary<O, E> {
    /// Indexed by node index.
    pub outcomes: Vec<Outcome<O, E>>,
    /// Time from start to finish of each node (zero for nodes that never ran).
    pub elapsed: Vec<Duration>,
    /// Wall time of the whole walk.
    pub total: Duration,
}

impl<O, E> WalkSummary<O, E> {
    pub fn all_done(&self) -> bool {
        self.outcomes.iter().all(Outcome::is_done)
    }
}

/// Walk `graph` (edges point from a dependency to what depends on it). `run` starts one node
/// and gets the hard-stop token; `on_event` sees every start and finish, in order, from the
/// coordinator (never concurrently).
pub async fn walk<N, Ed, O, E, F, Fut, C>(
    graph: &DiGraph<N, Ed>,
    parallelism: NonZeroUsize,
    stop: &Stop,
    mut run: F,
    mut on_event: C,
) -> WalkSummary<O, E>
where
    O: Send + 'static,
    E: Send + 'static,
    F: FnMut(NodeIndex, &N, CancellationToken) -> Fut,
    Fut: Future<Output = Result<O, E>> + Send + 'static,
    C: FnMut(WalkEvent<'_, O, E>) -> ControlFlow<()>,
{
    let started_at = Instant::now();
    let count = graph.node_count();
    let mut outcomes: Vec<Option<Outcome<O, E>>> = (0..count).map(|_| None).collect();
    let mut elapsed = vec![Duration::ZERO; count];
    let mut waiting_on: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Direction::Incoming).count())
        .collect();
    let mut ready: BTreeSet<NodeIndex> = graph
        .node_indices()
        .filter(|n| waiting_on[n.index()] == 0)
        .collect();
    let mut running: JoinSet<(NodeIndex, Instant, Result<O, E>)> = JoinSet::new();
    let mut running_ids = std::collections::HashMap::new();
    let mut stopping = false;

    loop {
        if stop.graceful.is_cancelled() {
            stopping = true;
        }
        while !stopping && running.len() < parallelism.get() {
            let Some(node) = ready.pop_first() else { break };
            if on_event(WalkEvent::Started(node)).is_break() {
                stopping = true;
            }
            let fut = run(node, &graph[node], stop.hard.clone());
            let handle = running.spawn(async move {
                let begun = Instant::now();
                let result = fut.await;
                (node, begun, result)
            });
            running_ids.insert(handle.id(), node);
        }
        if running.is_empty() {
            break;
        }

        let joined = tokio::select! {
            biased;
            _ = stop.hard.cancelled() => {
                running.abort_all();
                while let Some(aborted) = running.join_next_with_id().await {
                    match aborted {
                        Err(err) => {
                            if let Some(node) = running_ids.remove(&err.id()) {
                                let outcome = Outcome::Cancelled(CancelReason::SecondSignal);
                                let _ = on_event(WalkEvent::Finished {
                                    node,
                                    outcome: &outcome,
                                    elapsed: Duration::ZERO,
                                });
                                outcomes[node.index()] = Some(outcome);
                            }
                        }
                        // It finished before the abort reached it: keep its result.
                        Ok((id, (node, begun, result))) => {
                            running_ids.remove(&id);
                            let _ = finish(
                                graph,
                                node,
                                begun,
                                result,
                                &mut outcomes,
                                &mut elapsed,
                                &mut waiting_on,
                                &mut ready,
                                &mut on_event,
                            );
                        }
                    }
                }
                break;
            }
            _ = stop.graceful.cancelled(), if !stopping => continue,
            joined = running.join_next_with_id() => joined,
        };
        let Some(joined) = joined else { continue };
        match joined {
            Ok((id, (node, begun, result))) => {
                running_ids.remove(&id);
                if finish(
                    graph,
                    node,
                    begun,
                    result,
                    &mut outcomes,
                    &mut elapsed,
                    &mut waiting_on,
                    &mut ready,
                    &mut on_event,
                )
                .is_break()
                {
                    stopping = true;
                }
            }
            Err(err) => {
                // A node's task panicked or was aborted: it did not finish.
                if let Some(node) = running_ids.remove(&err.id()) {
                    let outcome = Outcome::Cancelled(CancelReason::SecondSignal);
                    let _ = on_event(WalkEvent::Finished {
                        node,
                        outcome: &outcome,
                        elapsed: Duration::ZERO,
                    });
                    outcomes[node.index()] = Some(outcome);
                    if err.is_panic() {
                        std::panic::resume_unwind(err.into_panic());
                    }
                }
            }
        }
    }

    // Whatever never ran was either skipped (already recorded) or cancelled by a stop.
    let reason = if stop.hard.is_cancelled() {
        CancelReason::SecondSignal
    } else {
        CancelReason::Interrupt
    };
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Cancelled(reason)))
        .collect();
    WalkSummary {
        outcomes,
        elapsed,
        total: started_at.elapsed(),
    }
}

/// Record a finished node, skip what depends on a failure, release what became ready.
#[allow(clippy::too_many_arguments)]
fn finish<N, Ed, O, E, C>(
    graph: &DiGraph<N, Ed>,
    node: NodeIndex,
    begun: Instant,
    result: Result<O, E>,
    outcomes: &mut [Option<Outcome<O, E>>],
    elapsed: &mut [Duration],
    waiting_on: &mut [usize],
    ready: &mut BTreeSet<NodeIndex>,
    on_event: &mut C,
) -> ControlFlow<()>
where
    C: FnMut(WalkEvent<'_, O, E>) -> ControlFlow<()>,
{
    let took = begun.elapsed();
    elapsed[node.index()] = took;
    let outcome = match result {
        Ok(output) => Outcome::Done(output),
        Err(error) => Outcome::Failed(error),
    };
    let flow = on_event(WalkEvent::Finished {
        node,
        outcome: &outcome,
        elapsed: took,
    });
    let failed = matches!(outcome, Outcome::Failed(_));
    outcomes[node.index()] = Some(outcome);

    if failed {
        // Every node reachable from the failure is skipped, naming the failure.
        let mut dfs = petgraph::visit::Dfs::new(graph, node);
        let mut skipped_flow = ControlFlow::Continue(());
        while let Some(next) = dfs.next(graph) {
            if next == node || outcomes[next.index()].is_some() {
                continue;
            }
            ready.remove(&next);
            let outcome = Outcome::Skipped { because: node };
            if on_event(WalkEvent::Finished {
                node: next,
                outcome: &outcome,
                elapsed: Duration::ZERO,
            })
            .is_break()
            {
                skipped_flow = ControlFlow::Break(());
            }
            outcomes[next.index()] = Some(outcome);
        }
        if skipped_flow.is_break() {
            return skipped_flow;
        }
    } else {
        for dependent in graph.neighbors_directed(node, Direction::Outgoing) {
            let left = &mut waiting_on[dependent.index()];
            *left = left.saturating_sub(1);
            if *left == 0 && outcomes[dependent.index()].is_none() {
                ready.insert(dependent);
            }
        }
    }
    flow
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).expect("non-zero")
    }

    /// A node: how long it sleeps, and whether it then fails.
    #[derive(Clone, Copy)]
    struct Job {
        secs: u64,
        fails: bool,
    }

    fn ok(secs: u64) -> Job {
        Job { secs, fails: false }
    }

    type JobFuture = std::pin::Pin<Box<dyn Future<Output = Result<usize, String>> + Send>>;

    fn job_runner(
        log: Arc<Mutex<Vec<String>>>,
        live: Arc<AtomicUsize>,
        peak: Arc<AtomicUsize>,
    ) -> impl FnMut(NodeIndex, &Job, CancellationToken) -> JobFuture {
        move |node, job, _hard| {
            let job = *job;
            let log = log.clone();
            let live = live.clone();
            let peak = peak.clone();
            Box::pin(async move {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                log.lock()
                    .expect("log")
                    .push(format!("start {}", node.index()));
                tokio::time::sleep(Duration::from_secs(job.secs)).await;
                live.fetch_sub(1, Ordering::SeqCst);
                log.lock()
                    .expect("log")
                    .push(format!("end {}", node.index()));
                if job.fails {
                    Err(format!("node {} failed", node.index()))
                } else {
                    Ok(node.index())
                }
            })
        }
    }

    fn harness() -> (Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        (Arc::default(), Arc::default(), Arc::default())
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_waits_for_all_its_dependencies() {
        // 0 -> 1 -> 3, 0 -> 2 -> 3
        let mut g = DiGraph::new();
        let n: Vec<_> = [ok(1), ok(1), ok(3), ok(1)]
            .into_iter()
            .map(|j| g.add_node(j))
            .collect();
        for (from, to) in [(0, 1), (0, 2), (1, 3), (2, 3)] {
            g.add_edge(n[from], n[to], ());
        }
        let (log, live, peak) = harness();
        let summary = walk(
            &g,
            nz(10),
            &Stop::default(),
            job_runner(log.clone(), live, peak),
            |_| ControlFlow::Continue(()),
        )
        .await;
        assert!(summary.all_done());
        let log = log.lock().expect("log").clone();
        assert_eq!(
            log,
            [
                "start 0", "end 0", "start 1", "start 2", "end 1", "end 2", "start 3", "end 3"
            ]
        );
        // The critical path is 1 + 3 + 1 seconds.
        assert_eq!(summary.total, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn parallelism_bounds_the_running_nodes() {
        let mut g: DiGraph<Job, ()> = DiGraph::new();
        for _ in 0..10 {
            g.add_node(ok(1));
        }
        let (log, live, peak) = harness();
        let summary = walk(
            &g,
            nz(3),
            &Stop::default(),
            job_runner(log, live, peak.clone()),
            |_| ControlFlow::Continue(()),
        )
        .await;
        assert!(summary.all_done());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert_eq!(summary.total, Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_skips_its_dependents_and_spares_the_rest() {
        // 0 (fails) -> 1 -> 2 ; 3 independent ; 0 -> 4
        let mut g = DiGraph::new();
        let a = g.add_node(Job {
            secs: 1,
            fails: true,
        });
        let b = g.add_node(ok(1));
        let c = g.add_node(ok(1));
        let d = g.add_node(ok(2));
        let e = g.add_node(ok(1));
        for (from, to) in [(a, b), (b, c), (a, e)] {
            g.add_edge(from, to, ());
        }
        let (log, live, peak) = harness();
        let mut finished = Vec::new();
        let summary = walk(
            &g,
            nz(4),
            &Stop::default(),
            job_runner(log, live, peak),
            |event| {
                if let WalkEvent::Finished { node, .. } = event {
                    finished.push(node.index());
                }
                ControlFlow::Continue(())
            },
        )
        .await;
        assert_eq!(
            summary.outcomes[a.index()],
            Outcome::Failed("node 0 failed".into())
        );
        for skipped in [b, c, e] {
            assert_eq!(
                summary.outcomes[skipped.index()],
                Outcome::Skipped { because: a }
            );
        }
        assert_eq!(summary.outcomes[d.index()], Outcome::Done(3));
        finished.sort();
        assert_eq!(
            finished,
            [0, 1, 2, 3, 4],
            "every node is reported exactly once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_graceful_stop_lets_running_nodes_finish_and_starts_no_more() {
        let mut g: DiGraph<Job, ()> = DiGraph::new();
        for _ in 0..4 {
            g.add_node(ok(2));
        }
        let stop = Stop::default();
        let trigger = stop.graceful.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            trigger.cancel();
        });
        let (log, live, peak) = harness();
        let summary = walk(&g, nz(2), &stop, job_runner(log, live, peak), |_| {
            ControlFlow::Continue(())
        })
        .await;
        assert_eq!(summary.outcomes[0], Outcome::Done(0));
        assert_eq!(summary.outcomes[1], Outcome::Done(1));
        assert_eq!(
            summary.outcomes[2],
            Outcome::Cancelled(CancelReason::Interrupt)
        );
        assert_eq!(
            summary.outcomes[3],
            Outcome::Cancelled(CancelReason::Interrupt)
        );
        assert_eq!(summary.total, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hard_stop_aborts_running_nodes() {
        let mut g: DiGraph<Job, ()> = DiGraph::new();
        let quick = g.add_node(ok(1));
        let slow = g.add_node(ok(100));
        let after = g.add_node(ok(1));
        g.add_edge(slow, after, ());
        let stop = Stop::default();
        let trigger = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            trigger.graceful.cancel();
            trigger.hard.cancel();
        });
        let (log, live, peak) = harness();
        let summary = walk(&g, nz(4), &stop, job_runner(log, live, peak), |_| {
            ControlFlow::Continue(())
        })
        .await;
        assert_eq!(summary.outcomes[quick.index()], Outcome::Done(0));
        assert_eq!(
            summary.outcomes[slow.index()],
            Outcome::Cancelled(CancelReason::SecondSignal)
        );
        assert_eq!(
            summary.outcomes[after.index()],
            Outcome::Cancelled(CancelReason::SecondSignal)
        );
        assert_eq!(summary.total, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn the_caller_can_stop_the_walk_from_an_event() {
        // A chain: when node 0 finishes, the caller (say, failing to write the state) stops.
        let mut g = DiGraph::new();
        let a = g.add_node(ok(1));
        let b = g.add_node(ok(1));
        g.add_edge(a, b, ());
        let (log, live, peak) = harness();
        let summary = walk(
            &g,
            nz(2),
            &Stop::default(),
            job_runner(log, live, peak),
            |event| match event {
                WalkEvent::Finished { .. } => ControlFlow::Break(()),
                WalkEvent::Started(_) => ControlFlow::Continue(()),
            },
        )
        .await;
        assert_eq!(summary.outcomes[a.index()], Outcome::Done(0));
        assert_eq!(
            summary.outcomes[b.index()],
            Outcome::Cancelled(CancelReason::Interrupt)
        );
    }
}
