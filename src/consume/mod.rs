//! `braid consume`: a supervisor that forks worker processes, each manually
//! assigned a share of the topic's partitions.
//!
//! `assignment` plans the shares; `supervisor` forks, watches, respawns and
//! stops the workers (its decisions a state machine that does no I/O, its
//! I/O one single-threaded poll loop over signal self-pipes and status pipes);
//! `worker` is what runs in each child; `processor` is the work done per
//! event; `status` is the worker → supervisor report format; `view` renders
//! the live view and the summary; `recover` is how a worker rides out broker
//! faults (metadata refresh, reconnect, bounded backoff).

pub mod assignment;
pub mod events;
pub mod membership;
pub mod options;
pub mod processor;
pub mod recover;
pub mod status;
pub mod supervisor;
pub mod view;
pub mod worker;

use anyhow::{anyhow, Result};

use crate::report;
use crate::usage::UsageError;
use options::Options;

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every worker finished (end of partitions or --max-messages).
    Done,
    /// Ctrl+C / SIGTERM.
    Interrupted,
    /// A worker crashed too often.
    CrashLoop(String),
    /// A worker met a fault that does not pass (a registry down for
    /// `--registry-timeout`, a poison event under `--on-invalid stop`):
    /// what it processed is committed, and the message says what to do.
    Failed(String),
}

/// The final state, for the summary and for callers.
pub struct Summary {
    /// How the run ended.
    pub ending: Ending,
    /// Total events consumed.
    pub consumed: u64,
}

/// The topic's partition ids, read without creating the topic.
fn topic_partitions(opts: &Options) -> Result<Vec<i32>> {
    // Metadata for all topics does not auto-create the one we ask about.
    let topics = crate::client::admin::topics(&opts.brokers).map_err(|e| {
        anyhow!(
            "cannot reach brokers {} ({e:#}); start one with `braid broker`, or a cluster with `docker compose up -d`",
            opts.brokers.join(",")
        )
    })?;
    let Some(topic) = topics.into_iter().find(|t| t.topic == opts.topic) else {
        return Err(anyhow!(
            "topic '{}' does not exist on {}; create it (`braid topic create {} --partitions 6`, or produce to it first)",
            opts.topic,
            opts.brokers.join(","),
            opts.topic
        ));
    };
    let ids =
        crate::client::admin::partition_ids(&opts.brokers, std::slice::from_ref(&opts.topic))?;
    let mut ids = ids.get(&opts.topic).cloned().unwrap_or_default();
    if ids.is_empty() {
        ids = (0..topic.partitions as i32).collect();
    }
    ids.sort_unstable();
    Ok(ids)
}

/// `--on-invalid dead-letter`: the dead-letter topic exists before any
/// worker needs it (created here, before the fork, with one partition and
/// the cluster's default replication).
fn ensure_dead_letter_topic(opts: &Options) -> Result<()> {
    if opts.on_invalid != options::OnInvalid::DeadLetter {
        return Ok(());
    }
    let dlq = &opts.dead_letter_topic;
    if *dlq == opts.topic {
        return Err(UsageError::new(format!(
            "--dead-letter-topic '{dlq}' is the topic being read: name another (default TOPIC.dlq)"
        ))
        .into());
    }
    let exists = |brokers: &[String]| -> Result<bool> {
        let ids = crate::client::admin::partition_ids(brokers, std::slice::from_ref(dlq))?;
        Ok(ids.get(dlq).is_some_and(|p| !p.is_empty()))
    };
    if exists(&opts.brokers)? {
        return Ok(());
    }
    if let Err(e) = crate::client::admin::create(&opts.brokers, dlq, 1, -1) {
        // Another supervisor may have created it meanwhile.
        if !exists(&opts.brokers)? {
            return Err(e.context(format!("cannot create the dead-letter topic '{dlq}'")));
        }
    }
    crate::client::admin::wait_ready(&opts.brokers, dlq, 1, std::time::Duration::from_secs(30))
}

/// Runs `braid consume`; returns the exit code.
pub fn run(opts: &Options) -> Result<i32> {
    // A bad reader schema fails here, once, rather than in every worker.
    if let Some(path) = &opts.reader_schema {
        crate::schema::decoder::read_reader_schema(path)?;
    }
    // The metadata client is dropped (its sockets closed) before any fork.
    let partitions = topic_partitions(opts)?;
    ensure_dead_letter_topic(opts)?;
    if partitions.is_empty() {
        return Err(anyhow!("topic '{}' has no partitions", opts.topic));
    }
    if opts.subscribe.is_some() {
        return run_subscribed(opts, &partitions);
    }
    let plan = match assignment::plan(
        &opts.topic,
        &partitions,
        opts.processes,
        &opts.assignment,
        opts.member,
    ) {
        Ok(plan) => plan,
        Err(e) => return Err(UsageError::new(e).into()),
    };
    let share: usize = plan.iter().map(|p| p.len()).sum();
    if let assignment::Assignment::Explicit(lists) = &opts.assignment {
        if lists.len() != opts.processes || opts.member.is_some() {
            report::line_err(&format!(
                "note: the explicit plan names {} workers; it decides the processes{}",
                lists.len(),
                if opts.member.is_some() {
                    " and --member is ignored"
                } else {
                    " (--processes is ignored)"
                }
            ));
        }
    }
    if (opts.processes) > plan.len() && opts.format == crate::report::Format::Human {
        report::line_err(&format!(
            "note: {} processes asked for, but only {share} partitions to read: forking {} (a partition is read by one process at a time)",
            opts.processes,
            plan.len()
        ));
    }
    if opts.format == crate::report::Format::Json {
        report::emit_json(&events::ConsumeEvent::StartupComplete {
            timestamp: report::now_ms(),
            topic: opts.topic.clone(),
            group: opts.group.clone(),
            partitions: partitions.clone(),
            workers: plan.len(),
            plan: plan.clone(),
            protocol: crate::client::protocol::current(),
        });
    } else {
        report::line_err(&format!(
            "consuming '{}' ({} partitions) with {} worker processes, group '{}', processor {:?}, {} client",
            opts.topic,
            share,
            plan.len(),
            opts.group,
            opts.processor,
            crate::client::protocol::current()
        ));
    }
    supervisor::run(opts, plan)
}

/// `--subscribe`: the group decides this host's partitions; the supervisor
/// joins before it forks.
fn run_subscribed(opts: &Options, partitions: &[i32]) -> Result<i32> {
    if let assignment::Assignment::Explicit(_) = opts.assignment {
        return Err(UsageError::new("--subscribe takes this host's partitions from the group; an explicit --assignment plan cannot be combined with it (use range or roundrobin to split the share among workers)",
        )
        .into());
    }
    if opts.format == crate::report::Format::Json {
        report::emit_json(&events::ConsumeEvent::StartupComplete {
            timestamp: report::now_ms(),
            topic: opts.topic.clone(),
            group: opts.group.clone(),
            partitions: partitions.to_vec(),
            workers: 0,
            plan: Vec::new(),
            protocol: crate::client::protocol::current(),
        });
    } else {
        report::line_err(&format!(
            "consuming '{}' as a member of group '{}' (--subscribe): the group decides this host's partitions, up to {} worker processes split them, processor {:?}",
            opts.topic, opts.group, opts.processes, opts.processor
        ));
    }
    supervisor::run(opts, Vec::new())
}
