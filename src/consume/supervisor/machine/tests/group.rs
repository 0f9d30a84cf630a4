//! `--subscribe`: joins, a rebalance, a member with nothing assigned.

use super::*;

#[test]
fn a_rebalance_stops_the_workers_then_rejoins_and_forks_for_the_new_share() {
    let mut sim = Sim::new(
        &["--subscribe", "--processes", "2", "--grace", "5", JSON],
        Vec::new(),
    );
    let start = sim.feed(Input::Start);
    assert!(matches!(start.as_slice(), [Action::Join]), "{start:?}");
    let gen = |id: i32| Generation {
        id,
        member_id: "m-1".into(),
    };
    let joined = sim.feed(Input::Group(GroupEvent::Joined {
        generation: gen(1),
        share: (0..6).collect(),
    }));
    assert_eq!(forked(&joined), vec![0, 1]);
    assert!(matches!(
        events(&joined)[0],
        ConsumeEvent::GroupJoined { generation: 1, .. }
    ));
    assert!(sim.tick().iter().any(|a| matches!(a, Action::Heartbeat)));
    sim.at(1000);
    let rebalance = sim.feed(Input::Group(GroupEvent::Rebalance));
    assert_eq!(
        signals(&rebalance, Signal::SIGTERM),
        vec![sim.pid(0), sim.pid(1)]
    );
    let tick = sim.tick();
    assert!(
        tick.is_empty(),
        "no heartbeat, no join while workers stop: {tick:?}"
    );
    // A crash during a rebalance is not respawned.
    assert!(!respawned(&sim.kill9(0)));
    // The grace applies to a rebalance too.
    sim.at(6000);
    assert_eq!(signals(&sim.tick(), Signal::SIGKILL), vec![sim.pid(1)]);
    sim.kill9(1);
    let rejoin = sim.tick();
    assert!(matches!(rejoin.as_slice(), [Action::Join]), "{rejoin:?}");
    let joined = sim.feed(Input::Group(GroupEvent::Joined {
        generation: gen(2),
        share: vec![0, 1, 2],
    }));
    assert_eq!(forked(&joined), vec![2, 3], "new workers for the new share");
    let tasks: Vec<_> = joined
        .iter()
        .filter_map(|a| match a {
            Action::Fork(t) => Some((t.partitions.clone(), t.resume, t.generation.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        tasks,
        vec![
            (vec![0, 1], true, Some(gen(2))),
            (vec![2], true, Some(gen(2)))
        ]
    );
    // Ctrl+C: the workers stop, the member leaves the group, then exits.
    sim.feed(Input::Signal(StopSignal::Interrupt));
    sim.reaped(2, clean);
    sim.reaped(3, clean);
    let end = sim.tick();
    assert!(
        matches!(end.as_slice(), [Action::Leave, Action::Exit { code: 130 }]),
        "{end:?}"
    );
}

#[test]
fn a_member_given_no_partitions_keeps_its_place_until_stopped() {
    let mut sim = Sim::new(&["--subscribe"], Vec::new());
    sim.feed(Input::Start);
    let joined = sim.feed(Input::Group(GroupEvent::Joined {
        generation: Generation::default(),
        share: Vec::new(),
    }));
    assert!(forked(&joined).is_empty());
    assert_eq!(exit_code(&sim.tick()), None);
    sim.feed(Input::Signal(StopSignal::Terminate));
    let end = sim.tick();
    assert!(
        matches!(end.as_slice(), [Action::Leave, Action::Exit { code: 130 }]),
        "{end:?}"
    );
}
