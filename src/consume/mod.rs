//! `braid consume`: a supervisor that forks worker processes, each manually
//! assigned a share of the topic's partitions.
//!
//! `assignment` plans the shares; `supervisor` forks, watches, respawns and
//! stops the workers (single-threaded, sigaction + self-pipe + poll);
//! `worker` is what runs in each child; `processor` is the work done per
//! event; `status` is the worker → supervisor report format; `view` renders
//! the live view and the summary; `recover` is how a worker rides out broker
//! faults (metadata refresh, reconnect, bounded backoff).

pub mod assignment;
pub mod events;
pub mod processor;
pub mod recover;
pub mod status;
pub mod supervisor;
pub mod view;
pub mod worker;

use anyhow::{anyhow, Result};
use kafka::client::KafkaClient;

use crate::cli::ConsumeArgs;
use crate::report;

/// Exit code for bad input (the same as clap's usage errors).
pub const EXIT_USAGE: i32 = 2;

/// The topic's partition ids, read without creating the topic.
fn topic_partitions(args: &ConsumeArgs) -> Result<Vec<i32>> {
    let mut client = KafkaClient::new(args.brokers.clone());
    client.set_client_id("braid-consume".to_string());
    // Metadata for all topics does not auto-create the one we ask about.
    client.load_metadata_all().map_err(|e| {
        anyhow!(
            "cannot reach brokers {} ({e}); start one with `braid broker`, or a cluster with `docker compose up -d`",
            args.brokers.join(",")
        )
    })?;
    let topics = client.topics();
    let Some(partitions) = topics.partitions(&args.topic) else {
        return Err(anyhow!(
            "topic '{}' does not exist on {}; create it (`braid topic create {} --partitions 6`, or produce to it first)",
            args.topic,
            args.brokers.join(","),
            args.topic
        ));
    };
    let mut ids: Vec<i32> = partitions.iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Runs `braid consume`; returns the exit code.
pub fn run(args: &ConsumeArgs) -> Result<i32> {
    // The metadata client is dropped (its sockets closed) before any fork.
    let partitions = topic_partitions(args)?;
    if partitions.is_empty() {
        return Err(anyhow!("topic '{}' has no partitions", args.topic));
    }
    let plan = match assignment::plan(
        &args.topic,
        &partitions,
        args.processes as usize,
        &args.assignment,
        args.member,
    ) {
        Ok(plan) => plan,
        Err(e) => {
            report::error_line(&anyhow!(e));
            return Ok(EXIT_USAGE);
        }
    };
    let share: usize = plan.iter().map(|p| p.len()).sum();
    if let crate::cli::Assignment::Explicit(lists) = &args.assignment {
        if lists.len() != args.processes as usize || args.member.is_some() {
            report::line_err(&format!(
                "note: the explicit plan names {} workers; it decides the processes{}",
                lists.len(),
                if args.member.is_some() {
                    " and --member is ignored"
                } else {
                    " (--processes is ignored)"
                }
            ));
        }
    }
    if (args.processes as usize) > plan.len() && args.format == crate::cli::Format::Human {
        report::line_err(&format!(
            "note: {} processes asked for, but only {share} partitions to read: forking {} (a partition is read by one process at a time)",
            args.processes,
            plan.len()
        ));
    }
    if args.format == crate::cli::Format::Json {
        report::emit_json(&events::ConsumeEvent::StartupComplete {
            timestamp: report::now_ms(),
            topic: args.topic.clone(),
            group: args.group.clone(),
            partitions: partitions.clone(),
            workers: plan.len(),
            plan: plan.clone(),
        });
    } else {
        report::line_err(&format!(
            "consuming '{}' ({} partitions) with {} worker processes, group '{}', processor {:?}",
            args.topic,
            share,
            plan.len(),
            args.group,
            args.processor
        ));
    }
    supervisor::run(args, plan)
}
