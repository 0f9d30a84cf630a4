//! What workers report, as the live view and the summary show it.

use super::*;

#[test]
fn registry_waits_and_dead_letters_reach_the_view_and_the_summary() {
    let mut sim = Sim::new(&[JSON], vec![vec![0]]);
    sim.feed(Input::Start);
    sim.at(1000);
    let wait = sim.status(
        0,
        Status::Waiting {
            partition: 0,
            offset: 7,
            error: "503".into(),
        },
    );
    assert!(matches!(
        events(&wait)[0],
        ConsumeEvent::RegistryUnavailable { offset: 7, .. }
    ));
    assert!(sim.m.views()[0].waiting);
    sim.at(3000);
    let back = sim.status(0, Status::Resumed { waited_ms: 2000 });
    assert!(matches!(
        events(&back)[0],
        ConsumeEvent::RegistryRecovered {
            waited_ms: 2000,
            ..
        }
    ));
    assert!(!sim.m.views()[0].waiting);
    sim.at(4000);
    sim.status(
        0,
        Status::Waiting {
            partition: 0,
            offset: 9,
            error: "down".into(),
        },
    );
    sim.status(
        0,
        Status::Progress(Progress {
            dead_letters: 2,
            invalid: 2,
            ..Progress::default()
        }),
    );
    // Still waiting when the summary is made: the wait so far counts.
    sim.at(4500);
    let row = &sim.m.summary(sim.now).0[0];
    assert_eq!(
        (row.registry_waits, row.dead_letters, row.invalid),
        (2, 2, 2)
    );
    assert_eq!(row.registry_waited, Duration::from_millis(2500));
}
